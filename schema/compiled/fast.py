"""The fast completion of an object: one closure per selected field, each reading its value
and writing it as the schema's serializer would, with no Path, Info or error bookkeeping.

It answers only what it can tell for certain (a string that is a ``str``, an enum member it
has seen serialized, an object whose type check passes); anything else — a null where the
schema says non-null, a value of another type, a resolver that raises, returns an awaitable
or asks its Info for more than the context — raises, and the object is completed again the
careful way (``executor.Run.object``), which places errors and nulls exactly as graphql-core
does. A fast reader never records anything, so giving up half-way leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from operator import attrgetter
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLString,
)
from graphql.pyutils import Undefined

from schema.compiled.steps import ATTRIBUTE, DIRECT, TYPENAME, Decline, Step
from schema.compiled.steps import Planning as Plan
from schema.compiled.steps import Running as Run

#: reads a field of an object, or completes a value, on the fast path
Fast = Callable[[Any, Run], Any]
#: GraphQL's Int: a signed 32-bit integer
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


class Slow(Exception):
    """The fast path cannot tell: the object is completed the careful way."""


class LazyInfo:
    """What a resolver called on the fast path gets for its Info: the context alone (asking
    for anything else sends the object to the careful path, where it gets the real Info).
    """

    __slots__ = ("context",)

    def __init__(self, context: Any) -> None:
        self.context = context

    def __getattr__(self, name: str) -> Any:
        raise Slow(name)


def _awaitable(value: Any) -> bool:
    return hasattr(value, "__await__")


def fast_object(plan: Plan, steps: list[Step]) -> Fast | None:
    """The fast completion of an object with these steps, or None when a field of it (or
    of an object below it) can only be read the careful way.
    """
    readers: list[tuple[str, Fast]] = []
    for step in steps:
        reader = _field(plan, step)
        if reader is None:
            return None
        readers.append((step.key, reader))
    fields = tuple(readers)

    def completed(source: Any, run: Run) -> dict[str, Any]:
        return {key: read(source, run) for key, read in fields}

    return completed


def _field(plan: Plan, step: Step) -> Fast | None:
    if step.how == TYPENAME:
        typename = step.parent.name
        return lambda source, run: typename
    complete = _value(plan, step.field.type, step)
    if complete is None:
        return None
    if step.how == ATTRIBUTE:
        get = attrgetter(step.attribute)
        plain = _plain(step.field.type)
        if plain is not None:  # the commonest field: one call, no completion step
            kind, non_null = plain

            def attribute(source: Any, run: Run) -> Any:
                value = get(source)
                if type(value) is kind or (value is None and not non_null):
                    return value
                raise Slow("converted")

            return attribute
        return lambda source, run: complete(get(source), run)
    if step.how != DIRECT or step.direct is None:
        return None
    func, with_self, info_name = step.direct.func, step.direct.with_self, step.direct.info_name

    def read(source: Any, run: Run) -> Any:
        if info_name is None:
            value = func(source) if with_self else func()
        elif with_self:
            value = func(source, **{info_name: run.lazy_info})
        else:
            value = func(**{info_name: run.lazy_info})
        if _awaitable(value):
            close = getattr(value, "close", None)
            if close is not None:
                close()  # never to be awaited here: the careful path calls it again
            raise Slow("awaitable")
        return complete(value, run)

    return read


def _plain(kind: GraphQLOutputType) -> tuple[type, bool] | None:
    """For a String, ID or Boolean field: the Python type written as it is, and whether the
    field is non-null.
    """
    non_null = isinstance(kind, GraphQLNonNull)
    named = kind.of_type if isinstance(kind, GraphQLNonNull) else kind
    if named is GraphQLString or named is GraphQLID:
        return str, non_null
    if named is GraphQLBoolean:
        return bool, non_null
    return None


def _value(plan: Plan, kind: GraphQLOutputType, step: Step) -> Fast | None:
    """The fast completion of values of a type, or None for the careful path."""
    if isinstance(kind, GraphQLNonNull):
        inner = _value(plan, kind.of_type, step)
        if inner is None:
            return None

        def non_null(value: Any, run: Run) -> Any:
            done = inner(value, run)
            if done is None:
                raise Slow("null in a non-null field")
            return done

        return non_null
    if isinstance(kind, GraphQLList):
        item = _value(plan, kind.of_type, step)
        if item is None:
            return None

        def listed(value: Any, run: Run) -> Any:
            if value is None or value is Undefined:
                return None
            if type(value) is not list and type(value) is not tuple:
                raise Slow("not a list")
            return [item(entry, run) for entry in value]

        return listed
    if isinstance(kind, GraphQLEnumType):
        return _enum(kind)
    if isinstance(kind, GraphQLScalarType):
        return _scalar(kind)
    if isinstance(kind, GraphQLObjectType):
        return _object(plan, kind, step)
    return None  # an interface or a union: the careful path resolves its type


def _scalar(kind: GraphQLScalarType) -> Fast:
    plain: type | None = None
    if kind is GraphQLString or kind is GraphQLID:
        plain = str
    elif kind is GraphQLBoolean:
        plain = bool
    if plain is not None:

        def exact(value: Any, run: Run) -> Any:
            if value is None or value is Undefined:
                return None
            if type(value) is not plain:
                raise Slow("converted")
            return value

        return exact
    if kind is GraphQLInt:

        def integer(value: Any, run: Run) -> Any:
            if value is None or value is Undefined:
                return None
            if type(value) is not int or not INT_MIN <= value <= INT_MAX:
                raise Slow("converted")
            return value

        return integer
    coerce = kind.coerce_output_value

    def serialized(value: Any, run: Run) -> Any:
        if value is None or value is Undefined:
            return None
        done = coerce(value)
        if done is None or done is Undefined:
            raise Slow("unrepresentable")
        return done

    return serialized


def _enum(kind: GraphQLEnumType) -> Fast:
    coerce = kind.coerce_output_value
    seen: dict[Enum, Any] = {}  # at most one entry per member

    def member(value: Any, run: Run) -> Any:
        if value is None or value is Undefined:
            return None
        done = seen.get(value) if isinstance(value, Enum) else None
        if done is None:
            done = coerce(value)
            if done is None or done is Undefined:  # type: ignore[comparison-overlap]
                raise Slow("unrepresentable")
            if isinstance(value, Enum):
                seen[value] = done
        return done

    return member


def _object(plan: Plan, kind: GraphQLObjectType, step: Step) -> Fast | None:
    check = kind.is_type_of
    if check is not None and "_get_is_type_of" not in check.__qualname__:
        return None  # a check that reads its Info
    try:
        steps = plan.subfields(kind, step.details, step)
    except Decline:
        return None
    completed = fast_object(plan, steps)
    if completed is None:
        return None

    definition = kind.extensions.get("strawberry-definition")
    exact = getattr(definition, "origin", None)  # an instance of it passes the check

    def obj(value: Any, run: Run) -> Any:
        if value is None or value is Undefined:
            return None
        if (
            check is not None and type(value) is not exact and check(value, None) is not True  # type: ignore[arg-type]
        ):
            raise Slow("another type")
        return completed(value, run)

    return obj
