"""How a mutation is declared: one decorator gives it its gate, its ``<Name>Input`` and its
``<Name>Payload``.

The resolver lists what the caller sends as plain arguments; Strawberry's
``InputMutationExtension`` gathers them into the one ``input`` argument of type
``<Name>Input``. The resolver returns a result type shared by several mutations (the image
after a change, say); ``NamedPayload`` gives the field a ``<Name>Payload`` subclass of it, so
every mutation answers a payload type of its own that can grow without touching the others.
"""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.annotation import StrawberryAnnotation
from strawberry.extensions.field_extension import FieldExtension
from strawberry.field_extensions import InputMutationExtension
from strawberry.types.base import has_object_definition
from strawberry.types.field import StrawberryField
from strawberry.types.unset import UNSET
from strawberry.utils.str_converters import capitalize_first, to_camel_case

from schema.descriptions import NAME_RULE
from schema.permissions import SignedIn


class NamedInput(InputMutationExtension):
    """``InputMutationExtension`` with the input type's description given here."""

    def __init__(self, description: str) -> None:
        self.description = description

    def apply(self, field: StrawberryField) -> None:
        """Build ``<Name>Input`` from the resolver's arguments and describe it."""
        super().apply(field)
        argument = field.arguments[0]
        argument.description = None  # the schema's shared wording for ``input`` applies
        generated = argument.type
        assert has_object_definition(generated)
        generated.__strawberry_definition__.description = self.description

    def map_arguments(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The input's fields as the resolver's arguments; an omitted nullable one is null."""
        return {k: None if v is UNSET else v for k, v in super().map_arguments(kwargs).items()}


class NamedPayload(FieldExtension):
    """Answer ``<Name>Payload``: the resolver's result type, or a subclass of it so named."""

    def __init__(self) -> None:
        self.named: type[Any] | None = None

    def apply(self, field: StrawberryField) -> None:
        """Give the field its own payload type (made once, kept for later schema builds)."""
        if self.named is None:
            result = field.type
            assert isinstance(result, type)
            assert has_object_definition(result)
            mutation = field.graphql_name or to_camel_case(field.python_name)
            name = f"{capitalize_first(mutation)}Payload"
            self.named = (
                result
                if result.__name__ == name
                else strawberry.type(
                    type(name, (result,), {}), description=f"Result of {mutation}."
                )
            )
        field.type_annotation = StrawberryAnnotation(self.named)


def mutation(description: str, *, input: str | None = None) -> Any:
    """A signed-in caller's mutation answering ``<Name>Payload``.

    With ``input`` (the description of ``<Name>Input``) the input type is built from the
    resolver's arguments; without it the resolver declares ``input`` itself (an input type
    shared with a query, or one with nested inputs).
    """
    named: list[FieldExtension] = [NamedInput(input)] if input is not None else []
    return strawberry.mutation(
        description=description,
        permission_classes=[SignedIn],
        extensions=[*named, NamedPayload()],
    )


def argument(description: str) -> Any:
    """Describe an argument, a field of the built input (used inside ``Annotated``)."""
    return strawberry.argument(description=description)


#: arguments many mutations take
ClientToken = Annotated[str | None, strawberry.argument(description="Idempotency key.")]
Name = Annotated[str, strawberry.argument(description=NAME_RULE)]
