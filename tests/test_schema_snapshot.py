"""schema.graphql at the repository root is the running schema, and everything is described."""

from __future__ import annotations

from pathlib import Path

from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType

from schema import schema

ROOT = Path(__file__).resolve().parent.parent


def test_committed_schema_matches_the_running_schema() -> None:
    committed = (ROOT / "schema.graphql").read_text(encoding="utf-8")
    assert committed.strip() == schema.as_str().strip(), (
        "schema.graphql is stale: run `bcc-images export-schema > schema.graphql`"
    )


def test_every_type_and_field_has_a_description() -> None:
    missing = []
    for name, named in schema._schema.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Float", "Boolean", "ID"}:
            continue
        if not named.description:
            missing.append(name)
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            missing += [f"{name}.{f}" for f, d in named.fields.items() if not d.description]
        if isinstance(named, GraphQLEnumType):
            pass  # enum values are self-describing UPPER_SNAKE_CASE names
    assert missing == []
