"""The one mapping from domain errors to GraphQL: userErrors for mutations, codes for queries."""

from __future__ import annotations

import dataclasses
import functools
import logging
import secrets
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

import strawberry
from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types.base import StrawberryList, StrawberryObjectDefinition

import schema.enums  # noqa: F401  (registers the domain enums)
from app.errors import (
    BadRequest,
    DomainError,
    Forbidden,
    NotFound,
    Unauthenticated,
    WarningCode,
)
from app.errors import ErrorCode as DomainErrorCode
from app.observability import count_error, current_request
from app.operations import service as operations_service
from schema.slots import UNAVAILABLE, UNAVAILABLE_MESSAGE

log = logging.getLogger("bcc_images.errors")


@strawberry.type(description="An expected failure of a mutation; nothing was changed.")
class UserError:
    code: DomainErrorCode = strawberry.field(description="Machine-readable reason.")
    field: list[str] | None = strawberry.field(
        description='Path of the offending input, e.g. ["input", "accountIds", "2"].'
    )
    message: str = strawberry.field(description="Human-readable explanation.")


@strawberry.type(description="Something worth knowing about what was done (or quoted).")
class Warning:
    code: WarningCode = strawberry.field(description="Machine-readable kind.")
    message: str = strawberry.field(description="Human-readable explanation.")


def deprecation_warnings(messages: Sequence[str]) -> list[Warning]:
    """The warnings of an answer whose image is deprecated."""
    return [Warning(code=WarningCode.IMAGE_DEPRECATED, message=m) for m in messages]


def user_error(exc: DomainError) -> UserError:
    """Turn a DomainError into the userErrors entry a client sees (and count it)."""
    count_error(exc.code.value)
    return UserError(
        code=exc.code, field=list(exc.field) if exc.field is not None else None, message=exc.message
    )


P = TypeVar("P")

if TYPE_CHECKING:
    from sqlmodel import Session

    from app.clock import Clock
    from app.platform.viewer import Viewer
    from schema.context import Info


@strawberry.type
class Payload:
    """What every mutation answers: its result, and userErrors (empty when it did it)."""

    user_errors: list[UserError] = strawberry.field(
        default_factory=list,
        description="Why nothing changed, each problem with its input field; empty on success.",
    )


class Acting(TypedDict):
    """The two arguments every service call of a mutation starts with."""

    session: Session
    viewer: Viewer


@dataclasses.dataclass(frozen=True)
class Call:
    """What a mutation's work is given: its transaction, the caller, the service's time."""

    session: Session
    viewer: Viewer
    clock: Clock

    @functools.cached_property
    def now(self) -> datetime:
        """The service's time for this transaction, read when the work first asks for it
        (before the service locks anything): a simulated clock cannot move until the
        transaction ends, and one that waited for an advance reads the advanced time.
        """
        return operations_service.transaction_time(session=self.session, clock=self.clock)

    @property
    def acting(self) -> Acting:
        """``session`` and ``viewer``, to pass on as ``service.action(**call.acting, ...)``."""
        return {"session": self.session, "viewer": self.viewer}


def mutate(info: Info, payload: type[P], work: Callable[[Call], P]) -> P:
    """Run a signed-in caller's mutation in its own write transaction; a DomainError rolls it
    back and answers the payload with nothing in it but the userErrors.
    """
    viewer = info.context.require_viewer()
    clock = info.context.services.clock
    try:
        return info.context.write(lambda session: work(Call(session, viewer, clock)))
    except DomainError as exc:
        return empty_payload(payload, [user_error(e) for e in getattr(exc, "errors", [exc])])


def empty_payload(payload: type[P], errors: list[UserError]) -> P:
    """A mutation payload that changed nothing: its lists empty, its objects null, and these
    userErrors.
    """
    definition: StrawberryObjectDefinition = payload.__strawberry_definition__  # type: ignore[attr-defined]
    values: dict[str, Any] = {}
    for field in definition.fields:
        if field.python_name == "user_errors":
            values[field.python_name] = errors
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            values[field.python_name] = [] if isinstance(field.type, StrawberryList) else None
    return payload(**values)


#: expected refusals raised below query resolvers, and the code each is reported with
CODED_EXCEPTIONS: dict[type[Exception], tuple[str, str]] = {
    Unauthenticated: (
        "UNAUTHENTICATED",
        "Authentication required: send 'Authorization: Bearer <token>'.",
    ),
    Forbidden: ("FORBIDDEN", "Not allowed."),
    BadRequest: ("BAD_USER_INPUT", "Invalid argument."),
    # an argument literal graphql-core's validation lets through but that cannot be coerced
    # (e.g. a @oneOf input naming two of its fields)
    StrawberryInputCoercionError: ("BAD_USER_INPUT", "Invalid argument."),
    NotFound: ("NOT_FOUND", "Not found."),  # its own code (e.g. IMAGE_NOT_FOUND) overrides
}


def should_mask(error: GraphQLError) -> bool:
    """Mask unexpected exceptions; keep parse/validation errors and deliberate GraphQL errors."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


#: failures of the service's own, reported with a fixed message (never the exception's text)
FIXED_MESSAGES: dict[type[Exception], tuple[str, str]] = {
    InvalidOperationTypeError: (
        "OPERATION_NOT_SUPPORTED",
        "Mutations are not run over the WebSocket: send them with POST.",
    ),
    **dict.fromkeys(UNAVAILABLE, ("SERVICE_UNAVAILABLE", UNAVAILABLE_MESSAGE)),
}


def _coded(error: GraphQLError) -> GraphQLError | None:
    original = error.original_error
    for exc_type, (code, message) in FIXED_MESSAGES.items():
        if isinstance(original, exc_type):
            if code == "SERVICE_UNAVAILABLE":
                log.warning("database unavailable at %s: %s", error.path, original)
            return GraphQLError(
                message, nodes=error.nodes, path=error.path, extensions={"code": code}
            )
    for exc_type, (code, default) in CODED_EXCEPTIONS.items():
        if isinstance(original, exc_type):
            return GraphQLError(
                str(original) or default,
                nodes=error.nodes,
                path=error.path,
                extensions={"code": code, **(getattr(original, "extensions", None) or {})},
            )
    return None


def _request_error_code(error: GraphQLError) -> str:
    """The code of an error graphql-core raised about the request itself."""
    if isinstance(error, GraphQLSyntaxError):
        if "tokens" in error.message and "Parsing aborted" in error.message:
            return "QUERY_TOO_COMPLEX"
        return "GRAPHQL_PARSE_FAILED"
    return "BAD_USER_INPUT"  # variables that do not fit their declared types


def _with_code(error: GraphQLError, code: str) -> GraphQLError:
    return GraphQLError(
        error.message,
        nodes=error.nodes,
        path=error.path,
        extensions={**(error.extensions or {}), "code": code},
    )


def _masked(error: GraphQLError) -> GraphQLError:
    error_id = secrets.token_hex(8)
    info = current_request()
    if info is not None:
        info.error_ids.append(error_id)
    log.error(
        "unexpected error %s at %s: %s",
        error_id,
        error.path,
        error.message,
        exc_info=error.original_error,
    )
    return GraphQLError(
        f"Internal server error (error id {error_id}).",
        nodes=error.nodes,
        path=error.path,
        extensions={"code": "INTERNAL_SERVER_ERROR", "errorId": error_id},
    )


def coded_error(error: GraphQLError) -> GraphQLError:
    """The error as the client sees it: always with ``extensions.code``; unexpected
    exceptions replaced by "Internal server error" and an error id that is also logged.
    """
    coded = _coded(error)
    if coded is not None:
        return coded
    if should_mask(error):
        return _masked(error)
    if (error.extensions or {}).get("code"):
        return error
    if error.path is None:
        return _with_code(error, _request_error_code(error))
    return _masked(error)  # e.g. a non-null field that resolved to null


class MaskUnexpectedErrors(SchemaExtension):
    """Give every error a code; replace unexpected errors by "Internal server error" and an
    error id that is also logged (R90).
    """

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        result.errors = [coded_error(e) for e in result.errors]

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """The same for every event of a subscription."""
        if getattr(result, "errors", None):
            result.errors = [coded_error(e) for e in result.errors]
        yield
