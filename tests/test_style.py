"""Habits the code keeps (STYLE.md): short functions."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 70


def _long_functions(files: list[Path], limit: int) -> list[str]:
    found = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                start = min([d.lineno for d in node.decorator_list] + [node.lineno])
                length = (node.end_lineno or node.lineno) - start + 1
                if length > limit:
                    found.append(
                        f"{path.name if not path.is_relative_to(ROOT) else path.relative_to(ROOT)}:{node.lineno} {node.name}: {length}"
                    )
    return found


def _sources() -> list[Path]:
    return [
        path
        for folder in ("app", "schema")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "migrations" not in path.parts
    ]


def test_no_function_is_longer_than_70_lines() -> None:
    assert _long_functions(_sources(), MAX_LINES) == []


def test_the_checker_sees_a_long_function(tmp_path: Path) -> None:
    long = tmp_path / "long.py"
    long.write_text("def f():\n" + "    x = 1\n" * MAX_LINES)
    assert len(_long_functions([long], MAX_LINES)) == 1


def _layout() -> str:
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = page.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```", 2)[1]


def test_the_architecture_layout_names_every_package_and_workflow() -> None:
    """The "Layout" of docs/architecture.md matches the tree: every entity package, every
    workflow module and the GraphQL edge's main modules are named there (as whole words)."""
    layout = _layout()
    entities = [p.parent.name for p in (ROOT / "app").glob("*/service.py")]
    workflows = [p.stem for p in (ROOT / "app" / "workflows").glob("[a-z]*.py")]
    edge = ["view", "context", "loaders", "limits", "cost", "errors", "mutation", "permissions"]
    edge += ["resources", "pagination"]
    # each is a module or a package somewhere in schema/ (schema/http/view.py, schema/limits/)
    found = {p.stem for p in (ROOT / "schema").rglob("*.py")}
    found |= {p.parent.name for p in (ROOT / "schema").rglob("__init__.py")}
    assert sorted(set(edge) - found) == []
    named = set(re.findall(r"[a-z_]+", layout))
    assert sorted(set(entities + workflows + edge) - named) == []
    for folder in ("schema/", "app/workflows/", "app/<entity>/", "app/", "seed_data/", "tests/"):
        assert folder in layout
