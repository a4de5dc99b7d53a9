"""Random documents over the types the compiled read path answers (R162): selections drawn
from the schema itself (so fields added later are drawn too), with aliases, named and inline
fragments, @include/@skip on variables, __typename, nested connections paged with
first/last/after/before, filters and orderings, and now and then a value the service refuses
(a page of 101, a cursor of another list, an id of the wrong form). The same seed gives the
same documents.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
    get_nullable_type,
)

from schema.compiled.reads import ROOT_FIELDS, TYPES

Composite = GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType


@dataclass
class World:
    """What the documents may name: ids and codes of the data the test set up, and cursors
    read from it (by the list they belong to, e.g. ``Query.images``).
    """

    images: list[str]
    listings: list[str]
    instances: list[str]
    accounts: list[str]
    regions: list[str] = field(default_factory=lambda: ["bj", "gz"])
    flavors: list[str] = field(default_factory=lambda: ["bcc.g5.c2m8"])
    families: list[str] = field(default_factory=lambda: ["web"])
    names: list[str] = field(default_factory=lambda: ["u", "web", "%", "_", "ü"])
    tags: list[tuple[str, str | None]] = field(default_factory=lambda: [("env", "prod")])
    cursors: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    """One generated request."""

    query: str
    variables: dict[str, Any]

    def body(self) -> dict[str, Any]:
        """The JSON body of a POST."""
        return {"query": self.query, "variables": self.variables}


class Generator:
    """Documents for one schema and world, from one seed."""

    def __init__(self, schema: GraphQLSchema, world: World, seed: int) -> None:
        self.schema = schema
        self.world = world
        self.random = random.Random(seed)
        self._fragments: list[str] = []
        self._definitions: list[str] = []
        self._variables: dict[str, Any] = {}
        self._counter = 0

    def requests(self, count: int) -> list[Request]:
        """``count`` documents."""
        return [self.request() for _ in range(count)]

    def request(self) -> Request:
        """One document: one to three root fields of the compiled set."""
        self._fragments, self._definitions, self._variables, self._counter = [], [], {}, 0
        query = self.schema.query_type
        assert query is not None
        roots = sorted(name for name in ROOT_FIELDS if name in query.fields)
        chosen = [self.random.choice(roots) for _ in range(self.random.choice([1, 1, 1, 2, 3]))]
        parts = [self._field(query, name, query.fields[name], 0) for name in chosen]
        if self.random.random() < 0.1:
            parts.append("__typename")
        header = f"({', '.join(self._definitions)})" if self._definitions else ""
        operation = f"query Q{header} {{ {' '.join(parts)} }}"
        return Request("\n".join([operation, *self._fragments]), dict(self._variables))

    # -- selections --------------------------------------------------------------------------

    def _name(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter}"

    def _variable(self, kind: str, value: Any) -> str:
        name = self._name("v")
        self._definitions.append(f"${name}: {kind}")
        self._variables[name] = value
        return f"${name}"

    def _directive(self) -> str:
        roll = self.random.random()
        if roll < 0.07:
            return f" @include(if: {self._variable('Boolean!', self.random.random() < 0.7)})"
        if roll < 0.12:
            return f" @skip(if: {self._variable('Boolean!', self.random.random() < 0.3)})"
        if roll < 0.14:
            return f" @include(if: {self.random.choice(['true', 'false'])})"
        return ""

    def _field(self, parent: GraphQLObjectType, name: str, found: GraphQLField, depth: int) -> str:
        alias = f"{self._name('a')}: " if self.random.random() < 0.15 else ""
        head = f"{alias}{name}{self._arguments(parent, name, found)}{self._directive()}"
        named = get_named_type(found.type)
        if isinstance(named, Composite):
            return f"{head} {{ {self._selection(named, depth + 1)} }}"
        return head

    def _selection(self, kind: Composite, depth: int) -> str:
        if isinstance(kind, GraphQLInterfaceType | GraphQLUnionType):
            possible = self.schema.get_possible_types(kind)
            preferred = [t for t in possible if t.name in TYPES] or list(possible)
            parts = ["__typename"] if self.random.random() < 0.7 else []
            if isinstance(kind, GraphQLInterfaceType) and self.random.random() < 0.5:
                parts.append(self._leaves(kind))
            for concrete in self.random.sample(preferred, k=min(len(preferred), 2)):
                parts.append(f"... on {concrete.name} {{ {self._selection(concrete, depth)} }}")
            return " ".join(parts)
        parts = [
            self._field(kind, name, kind.fields[name], depth) for name in self._pick(kind, depth)
        ]
        if self.random.random() < 0.15:
            parts.insert(self.random.randrange(len(parts) + 1), "__typename")
        if self.random.random() < 0.15 and len(parts) > 1:
            fragment = self._name("F")
            half = len(parts) // 2
            self._fragments.append(
                f"fragment {fragment} on {kind.name} {{ {' '.join(parts[:half])} }}"
            )
            parts = [f"...{fragment}{self._directive()}", *parts[half:]]
        if self.random.random() < 0.1:
            parts = [f"... on {kind.name}{self._directive()} {{ {parts[0]} }}", *parts[1:]]
        if self.random.random() < 0.05:  # the same key twice: the selections merge
            parts.append(parts[-1])
        return " ".join(parts)

    def _leaves(self, kind: GraphQLInterfaceType) -> str:
        leaves = [
            n for n, f in kind.fields.items() if not isinstance(get_named_type(f.type), Composite)
        ]
        return " ".join(leaves[:2]) or "__typename"

    def _pick(self, kind: GraphQLObjectType, depth: int) -> list[str]:
        leaves, objects = [], []
        for name, found in kind.fields.items():
            named = get_named_type(found.type)
            if not isinstance(named, Composite):
                leaves.append(name)
            elif depth < 4 and (named.name in TYPES or self.random.random() < 0.1):
                objects.append(name)
        self.random.shuffle(leaves)
        self.random.shuffle(objects)
        chosen = leaves[: self.random.randint(1, 5)] + objects[: self.random.randint(0, 2)]
        order = list(kind.fields)
        return sorted(chosen, key=order.index) or order[:1]

    # -- arguments ---------------------------------------------------------------------------

    def _arguments(self, parent: GraphQLObjectType, name: str, found: GraphQLField) -> str:
        given: dict[str, str] = {}
        for argument, definition in found.args.items():
            value = self._argument(parent, name, argument, definition, given)
            if value is not None:
                given[argument] = value
        return "(" + ", ".join(f"{k}: {v}" for k, v in given.items()) + ")" if given else ""

    def _argument(
        self,
        parent: GraphQLObjectType,
        name: str,
        argument: str,
        definition: GraphQLArgument,
        given: dict[str, str],
    ) -> str | None:
        roll = self.random.random()
        required = isinstance(definition.type, GraphQLNonNull)
        if argument == "first":
            if roll < 0.02:
                return "101"  # refused: more than a page
            return (
                self._int([0, 1, 2, 3, 5] if parent.name == "Query" else [0, 1, 2])
                if roll < 0.7
                else None
            )
        if argument == "last":
            return self._int([1, 2, 3]) if "first" not in given and roll < 0.2 else None
        if argument in ("after", "before"):
            cursors = self.world.cursors.get(f"{parent.name}.{name}", [])
            if roll < 0.02:
                return json.dumps("bm90LWEtY3Vyc29y")  # refused: not a cursor
            if cursors and roll < 0.2 and (argument == "after") == ("last" not in given):
                return self._maybe_variable("String", self.random.choice(cursors))
            return None
        if argument == "id":
            pools = {"image": self.world.images, "instance": self.world.instances}
            pool = pools.get(name) or {"listing": self.world.listings}.get(name) or []
            if pool and self.random.random() < 0.8:
                return self._maybe_variable("ID!", self.random.choice(pool))
        if not required and roll < 0.5:
            return None
        return self._literal(argument, definition.type)

    def _int(self, choices: list[int]) -> str:
        value = self.random.choice(choices)
        return self._maybe_variable("Int", value)

    def _maybe_variable(self, kind: str, value: Any) -> str:
        return self._variable(kind, value) if self.random.random() < 0.3 else json.dumps(value)

    def _literal(self, name: str, kind: GraphQLInputType) -> str:
        """A value for an argument or input field (by its name, then its type)."""
        nullable = get_nullable_type(kind)
        if isinstance(nullable, GraphQLList):
            inner = nullable.of_type
            if name == "ids":
                pool = self.world.images + self.world.instances + self.world.listings
                values = self.random.sample(pool, k=min(3, len(pool)))
                if self.random.random() < 0.1:
                    values.append("m-00000000")
                return self._maybe_variable("[ID!]!", values)
            count = self.random.randint(0, 2)
            return "[" + ", ".join(self._literal(name, inner) for _ in range(count)) + "]"
        if isinstance(nullable, GraphQLEnumType):
            return str(self.random.choice(list(nullable.values)))
        if isinstance(nullable, GraphQLInputObjectType):
            fields = list(nullable.fields.items())
            required = [(n, f) for n, f in fields if isinstance(f.type, GraphQLNonNull)]
            optional = [(n, f) for n, f in fields if not isinstance(f.type, GraphQLNonNull)]
            chosen = required + self.random.sample(
                optional, k=min(len(optional), self.random.randint(0, 2))
            )
            return "{" + ", ".join(f"{n}: {self._literal(n, f.type)}" for n, f in chosen) + "}"
        assert isinstance(nullable, GraphQLScalarType)
        if nullable.name == "Boolean":
            return self.random.choice(["true", "false"])
        if nullable.name == "Int":
            return str(self.random.choice([0, 1, 5]))
        return json.dumps(self._text(name))

    def _text(self, name: str) -> str:
        world, pick = self.world, self.random.choice
        pools: dict[str, list[str]] = {
            "region": world.regions + ["nowhere"],
            "code": world.regions + ["nowhere"],
            "listing": world.listings,
            "provider": world.accounts,
            "image": world.images,
            "sourceInstance": world.instances,
            "flavor": world.flavors,
            "family": world.families,
            "nameContains": world.names,
            "textContains": world.names,
            "category": ["os", "database"],
            "key": [key for key, _ in world.tags],
            "value": [value for _, value in world.tags if value is not None] or ["x"],
            "id": world.images + world.listings + world.instances + world.accounts,
        }
        pool = pools.get(name) or world.names
        if name == "id" and self.random.random() < 0.05:
            return pick(["m-00000000", "not an id"])
        return pick(pool) if pool else "x"
