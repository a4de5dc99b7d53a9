"""STYLE.md rule 1: layers point one way; pure modules do no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PURE = {"money.py", "rules.py", "pricing.py", "ids.py", "permissions.py"}
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
    assert ROOT / "app" / "accounts" / "permissions.py" in files
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


# --- entity domains under the workflow layer -----------------------------------------------

#: entity domains, lowest first: each may read the tables and pure rules of those before it
ENTITIES = (
    "accounts",
    "tags",
    "regions",
    "operations",
    "storage",
    "billing",
    "marketplace",
    "images",
    "snapshots",
    "instances",
)
#: what one entity may take from a lower one: its tables, its pure rules and (from accounts)
#: the permission vocabulary; never a service
SHAREABLE = {"models", "rules", "pricing", "permissions"}


def _app_imports(path: Path) -> set[str]:
    """Every ``app.…`` module a file imports, at any depth (function-level imports too)."""
    return {name for name in _imports(path) if name == "app" or name.startswith("app.")}


def _unit(module: str) -> str:
    """The package (``app.images``) or top-level module (``app.errors``) a module is in."""
    return ".".join(module.split(".")[:2])


def _entity_violations(root: Path) -> list[str]:
    found = []
    for rank, entity in enumerate(ENTITIES):
        for path in sorted((root / "app" / entity).rglob("*.py")):
            for name in sorted(_app_imports(path)):
                parts = name.split(".")
                other = parts[1] if len(parts) > 1 else ""
                where = f"{path.relative_to(root)} imports {name}"
                if other == "workflows":
                    found.append(f"{where}: entities never reach up to workflows")
                elif other in ENTITIES and other != entity:
                    if ENTITIES.index(other) > rank:
                        found.append(f"{where}: {other} is above {entity}")
                    elif len(parts) < 3 or parts[2] not in SHAREABLE:
                        found.append(f"{where}: only another entity's models and rules")
    return found


def _import_graph(root: Path) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in (root / "app").rglob("*.py"):
        relative = path.relative_to(root).with_suffix("")
        if "migrations" in relative.parts:
            continue
        module = ".".join(relative.parts).removesuffix(".__init__")
        unit = _unit(module)
        targets = graph.setdefault(unit, set())
        targets.update(_unit(n) for n in _app_imports(path) if _unit(n) not in ("app", unit))
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_entities_import_only_lower_entities_models_and_rules() -> None:
    assert _entity_violations(ROOT) == []


def test_no_package_import_cycle_in_app() -> None:
    assert _cycles(_import_graph(ROOT)) == []


def test_workflows_sit_above_every_entity() -> None:
    graph = _import_graph(ROOT)
    assert "app.workflows" in graph
    assert not any("app.workflows" in graph.get(f"app.{e}", set()) for e in ENTITIES)


def test_the_entity_checker_sees_violations(tmp_path: Path) -> None:
    images = tmp_path / "app" / "images"
    images.mkdir(parents=True)
    (images / "service.py").write_text(
        "from app.instances import service\n"  # upward
        "from app.marketplace import service as m\n"  # another entity's service
        "from app.workflows import launch\n"  # the workflow layer
        "from app.marketplace.models import Listing\n"  # allowed
    )
    found = _entity_violations(tmp_path)
    assert len(found) == 3, found


def test_the_cycle_finder_sees_a_cycle() -> None:
    graph = {"app.a": {"app.b"}, "app.b": {"app.c"}, "app.c": {"app.a"}, "app.d": {"app.a"}}
    assert _cycles(graph) == [["app.a", "app.b", "app.c"]]


# --- the seams of the GraphQL layer ---------------------------------------------------------

#: the GraphQL domain folders: types, queries and mutations of one part of the API
SCHEMA_DOMAINS = tuple(
    sorted(
        p.name
        for p in (ROOT / "schema").iterdir()
        if p.is_dir() and p.name not in ("http", "limits", "compiled", "releases", "__pycache__")
    )
)


def _schema_imports(path: Path) -> set[str]:
    return {name for name in _imports(path) if name == "schema" or name.startswith("schema.")}


def _seam_violations(root: Path) -> list[str]:
    """Only the composition root imports the HTTP edge; domain folders use neither the edge
    nor the limits; the limits and the compiled read path know no domain folder (they work
    on any part of the schema).
    """
    found = []
    python = [*(root / "app").rglob("*.py"), *(root / "schema").rglob("*.py")]
    for path in sorted(python):
        relative = path.relative_to(root)
        inside = (
            relative.parts[1] if relative.parts[0] == "schema" and len(relative.parts) > 2 else ""
        )
        for name in sorted(_schema_imports(path)):
            parts = name.split(".")
            package = parts[1] if len(parts) > 1 else ""
            where = f"{relative} imports {name}"
            if package == "http" and relative != Path("app/main.py") and inside != "http":
                found.append(f"{where}: only app/main.py imports schema.http")
            if inside in SCHEMA_DOMAINS and package in ("http", "limits"):
                found.append(f"{where}: a domain folder uses neither the edge nor the limits")
            if inside in ("limits", "compiled") and package in SCHEMA_DOMAINS:
                found.append(f"{where}: the {inside} know no domain folder")
    return found


def test_the_graphql_layer_keeps_its_seams() -> None:
    assert {"images", "instances", "accounts"} <= set(SCHEMA_DOMAINS)
    assert _seam_violations(ROOT) == []


def test_the_seam_checker_sees_violations(tmp_path: Path) -> None:
    for folder in ("app", "schema/http", "schema/limits", "schema/images"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "app" / "cli.py").write_text("from schema.http.view import GraphQLView\n")
    (tmp_path / "schema" / "images" / "queries.py").write_text(
        "from schema.limits.cost import requested_cost\nfrom schema.http import auth\n"
    )
    (tmp_path / "schema" / "limits" / "cost.py").write_text("from schema.images.types import X\n")
    (tmp_path / "app" / "main.py").write_text("from schema.http.view import GraphQLView\n")
    found = _seam_violations(tmp_path)
    assert len(found) == 5, found


def test_the_platform_knows_no_entity_and_no_workflow() -> None:
    """What every domain stands on imports none of them (what a change means for whom is
    handed to it at start-up by app.workflows.tracking)."""
    found = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "app" / "platform").rglob("*.py"))
        for name in sorted(_app_imports(path))
        if _unit(name).removeprefix("app.") in (*ENTITIES, "workflows")
    ]
    assert found == []


def test_importing_the_app_package_installs_nothing() -> None:
    """Session listeners are installed by one explicit call, not by importing ``app``."""
    assert (ROOT / "app" / "__init__.py").read_text().count("import") == 0
