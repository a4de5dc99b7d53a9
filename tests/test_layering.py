"""STYLE.md rule 1: layers point one way; pure modules do no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PURE = {"money.py", "rules.py", "pricing.py", "ids.py"}
ORM = ("sqlmodel", "sqlalchemy", "alembic")
GRAPHQL = ("strawberry", "schema", "graphql", "starlette")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _violations(files: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.name if not path.is_relative_to(ROOT) else path.relative_to(ROOT)} imports {name}"
        for path in files
        for name in sorted(_imports(path))
        if name.split(".")[0] in forbidden
    ]


def test_app_never_imports_the_graphql_layer() -> None:
    files = [p for p in (ROOT / "app").rglob("*.py") if p.name != "main.py"]
    assert _violations(files, GRAPHQL) == []


def test_pure_modules_import_no_orm() -> None:
    files = [p for p in (ROOT / "app").rglob("*.py") if p.name in PURE]
    assert files, "expected pure modules"
    assert _violations(files, ORM + GRAPHQL) == []


def test_schema_layer_builds_no_sql() -> None:
    allowed = {"Session", "Engine"}
    offenders = []
    for path in (ROOT / "schema").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ORM:
                names = {alias.name for alias in node.names} - allowed
                if names:
                    offenders.append(f"{path.relative_to(ROOT)}: {sorted(names)}")
    assert offenders == []


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "rules.py"
    bad.write_text("import sqlmodel\nfrom strawberry import type\n")
    assert _violations([bad], ORM + GRAPHQL) != []
