"""MkDocs hook: a line ``<!-- schema: enum NAME -->`` in a page becomes a table of that enum's
values and their descriptions, read from schema.graphql when the site is built, so the
documentation lists exactly the codes the API answers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from graphql import GraphQLEnumType, build_schema

SCHEMA = Path(__file__).resolve().parents[2] / "schema.graphql"
MARKER = re.compile(r"^<!-- schema: enum (?P<name>\w+) -->$", re.M)


def _table(name: str) -> str:
    schema = build_schema(SCHEMA.read_text(encoding="utf-8"))
    enum = schema.get_type(name)
    if not isinstance(enum, GraphQLEnumType):
        raise ValueError(f"schema.graphql has no enum {name}")
    rows = ["| code | meaning |", "| --- | --- |"]
    for value, definition in enum.values.items():
        text = " ".join((definition.description or "").split()).replace("|", "\\|")
        rows.append(f"| `{value}` | {text} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace every enum marker of a page by its table."""
    return MARKER.sub(lambda m: _table(m.group("name")), markdown)
