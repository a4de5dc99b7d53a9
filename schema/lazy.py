"""Objects of a Strawberry type whose fields are read from a row when first asked for.

A list page builds fifty objects of thirty fields each and its answer reads a handful of
them: a lazy object reads each field from its source (a row, and whatever else the type's
readers take) on first use, once, and is in every other way an object of its type. The same
readers build the eager objects, so both give the same values by construction.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")
#: how one field is read from an object's source (the row and what else the type takes)
Reader = Callable[..., Any]


def eager(cls: type[T], readers: Mapping[str, Reader], *source: Any) -> T:
    """An object of ``cls`` with every field read from ``source`` now."""
    return cls(**{name: read(*source) for name, read in readers.items()})


def lazy_type(cls: type[T], readers: Mapping[str, Reader]) -> Callable[..., T]:
    """A subclass of ``cls`` made from a source (``Lazy(*source)``) whose fields are read
    by ``readers`` on first use. ``readers`` must name every field of ``cls`` that is not
    answered by a resolver.
    """
    declared = dataclasses.fields(cls)  # type: ignore[arg-type]
    fields = {f.name for f in declared if getattr(f, "base_resolver", None) is None}
    if fields != set(readers):
        raise TypeError(f"{cls.__name__}: readers for {sorted(fields ^ set(readers))}")

    def __init__(self: Any, *source: Any) -> None:
        self._source = source

    lazy = type(f"Lazy{cls.__name__}", (cls,), {"__init__": __init__})
    for name, read in readers.items():
        found = functools.cached_property(_field(read))
        found.__set_name__(lazy, name)
        setattr(lazy, name, found)
    return lazy


def _field(read: Reader) -> Callable[[Any], Any]:
    def field(self: Any) -> Any:
        return read(*self._source)

    return field
