"""One validator for every argument of every field: text without control characters, times
with an offset, uploaded files whose names follow the name rule. Mutations answer an
INVALID_INPUT userError, other fields BAD_USER_INPUT.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import strawberry
from starlette.datastructures import UploadFile
from strawberry.extensions.field_extension import FieldExtension
from strawberry.field_extensions import InputMutationExtension
from strawberry.types.base import (
    StrawberryList,
    StrawberryObjectDefinition,
    StrawberryOptional,
    has_object_definition,
)
from strawberry.types.field import StrawberryField
from strawberry.types.lazy_type import LazyType
from strawberry.utils.str_converters import to_camel_case

from app.errors import BadRequest, DomainError, ErrorCode
from schema.errors import empty_payload, user_error

#: anywhere: C0 controls but tab, newline and carriage return; DEL; C1 controls; surrogates
_ANY_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
#: in ids, names, keys and tags: every control character, and bidirectional overrides
_STRICT_TEXT = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
#: input fields held to the strict rule besides every ID
STRICT_FIELDS = frozenset(
    {
        "name",
        "key",
        "value",
        "keys",
        "family",
        "clientToken",
        "objectKey",
        "title",
        "category",
        "version",
        "arch",
        "region",
        "zone",
        "flavor",
        "imageFamily",
    }
)


def _refused_character(value: str, strict: bool) -> str | None:
    """The first character the rule refuses in ``value`` as ``U+XXXX``, or None."""
    found = (_STRICT_TEXT if strict else _ANY_TEXT).search(value)
    return None if found is None else f"U+{ord(found.group()):04X}"


def text_problem(value: str, strict: bool) -> str | None:
    """Why a string input is refused, or None."""
    character = _refused_character(value, strict)
    return None if character is None else f"must not contain the control character {character}"


def file_name_problem(upload: UploadFile) -> str | None:
    """Why an uploaded file's name is refused (the name rule: R129, R159), or None."""
    character = _refused_character(upload.filename or "", strict=True)
    if character is None:
        return None
    return (
        f"has a file name with the control character {character}, which file names must not contain"
    )


Path = tuple[str, ...]


def problems(value: Any, annotation: Any, path: Path) -> Iterator[tuple[Path, str]]:
    """Every refused value below an argument, with its path of GraphQL names."""
    if value is None or value is strawberry.UNSET:
        return
    if isinstance(annotation, StrawberryOptional):
        yield from problems(value, annotation.of_type, path)
    elif isinstance(annotation, StrawberryList):
        for index, item in enumerate(value if isinstance(value, list) else []):
            yield from problems(item, annotation.of_type, (*path, str(index)))
    elif has_object_definition(annotation):
        definition: StrawberryObjectDefinition = annotation.__strawberry_definition__
        for field in definition.fields:
            name = field.graphql_name or to_camel_case(field.python_name)
            inner = getattr(value, field.python_name, None)
            yield from problems(inner, field.type, (*path, name))
    elif isinstance(value, UploadFile):  # its bytes are not stored until this passes
        if (message := file_name_problem(value)) is not None:
            yield path, message
    elif isinstance(value, str):
        strict = annotation is strawberry.ID or (bool(path) and path[-1] in STRICT_FIELDS)
        if not path[-1].isdigit() or annotation is strawberry.ID:
            message = text_problem(value, strict)
        else:  # an item of a list: strict when the list is
            message = text_problem(value, strict or (len(path) > 1 and path[-2] in STRICT_FIELDS))
        if message is not None:
            yield path, message
    elif isinstance(value, datetime) and value.tzinfo is None:
        yield path, "needs a UTC offset, e.g. 2026-11-01T00:00:00Z"


class CheckedInputs(FieldExtension):
    """Checks a field's arguments before its resolver runs."""

    def apply(self, field: StrawberryField) -> None:
        """Remember the field's arguments and whether it is a mutation."""
        self.arguments = [
            (a.python_name, a.graphql_name or to_camel_case(a.python_name), a.type)
            for a in field.arguments
        ]
        self.field = field
        # a mutation's resolver gets the fields of its input as arguments of their own
        self.unpacked = any(isinstance(e, InputMutationExtension) for e in field.extensions)

    def _refusal(self, info: Any, kwargs: dict[str, Any]) -> Any:
        if self.unpacked:
            kwargs = {"input": SimpleNamespace(**kwargs)}
        found = [
            (path, message)
            for python_name, name, annotation in self.arguments
            for path, message in problems(kwargs.get(python_name), annotation, (name,))
        ]
        if not found:
            return None
        if info.operation.operation.value == "mutation" and info.path.prev is None:
            errors = [
                user_error(
                    DomainError(ErrorCode.INVALID_INPUT, f"{'.'.join(path)} {message}.", path)
                )
                for path, message in found
            ]
            return empty_payload(self.field.type, errors)  # type: ignore[arg-type]
        path, message = found[0]
        raise BadRequest(f"Argument {'.'.join(path)} {message}.", argument=list(path))

    def resolve(self, next_: Callable[..., Any], source: Any, info: Any, **kwargs: Any) -> Any:
        """Refuse bad input, else resolve."""
        refused = self._refusal(info, kwargs)
        return refused if refused is not None else next_(source, info, **kwargs)

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Any, **kwargs: Any
    ) -> Any:
        """Refuse bad input, else resolve."""
        refused = self._refusal(info, kwargs)
        return refused if refused is not None else await next_(source, info, **kwargs)


def guard_arguments(*roots: type[Any]) -> None:
    """Put CheckedInputs on every field with arguments reachable from these types (once)."""
    seen: set[type[Any]] = set()
    pending = list(roots)
    while pending:
        cls = pending.pop()
        if cls in seen or not has_object_definition(cls):
            continue
        seen.add(cls)
        definition: StrawberryObjectDefinition = cls.__strawberry_definition__
        if definition.is_input:
            continue
        for field in definition.fields:
            if (
                field.arguments
                and not field.is_subscription
                and not any(isinstance(e, CheckedInputs) for e in field.extensions)
            ):
                field.extensions.append(CheckedInputs())
            pending.extend(_named_types(field.type))


def _named_types(annotation: Any) -> Iterator[type[Any]]:
    while isinstance(annotation, StrawberryOptional | StrawberryList | LazyType):
        annotation = (
            annotation.resolve_type() if isinstance(annotation, LazyType) else annotation.of_type
        )
    if isinstance(annotation, type):
        yield annotation
