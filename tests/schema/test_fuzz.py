"""Property-based fuzzing of every query and mutation with schemathesis, as a CUSTOMER.

The schema is the running schema itself (the SDL that `schema.graphql` is exported from), so one
pytest test is collected per root field: ``test_fuzz[Query.images]``,
``test_fuzz[Mutation.createImage]`` and so on. Each draws 25 derandomized documents (valid ones and,
as schemathesis does by default, invalid ones) and sends them through the session's in-process
client with a customer's bearer token. Whatever the document, the server must answer JSON, never a
5xx, and never an ``INTERNAL_SERVER_ERROR`` (an unexpected exception masked by
``schema.errors.MaskUnexpectedErrors``); a failure shows the document, the body and the server-side
traceback that was logged under the error id.

Under pytest 9.2 every item gets the node id ``test_fuzz`` (the operation is only in the item's
name), so select one operation with ``-k uploadObject`` rather than by node id.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.graphql import nodes
from starlette.testclient import TestClient

from app.platform.viewer import Role
from schema import schema as running_schema
from tests.factories import Factory, Tenant

GRAPHQL_PATH = "/graphql"
JSON_MEDIA_TYPES = ("application/json", "application/graphql-response+json")
ERRORS_LOGGER = "bcc_images.errors"

# Scalars schemathesis has no strategy for (DateTime it generates itself). Decimal takes strings,
# ints and floats; strings include what `decimal.Decimal` parses beyond plain numbers
# ("NaN", "sNaN", "Infinity", exponents). Upload cannot be sent inline in a JSON body; a string
# literal in its place is a client mistake the server has to refuse cleanly.
schemathesis.graphql.scalar(
    "Decimal",
    st.one_of(
        st.decimals().map(str).map(nodes.String),
        st.integers().map(nodes.Int),
        st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
    ),
)
schemathesis.graphql.scalar("Upload", st.text(max_size=20).map(nodes.String))

# The running schema's SDL (what `schema.graphql` is exported from); introspection through
# `Schema.introspect()` would run the app's extensions, which need a request context.
fuzz_schema = schemathesis.graphql.from_file(running_schema.as_str())

F = TypeVar("F", bound=Callable[..., None])
# `parametrize()` is typed as returning a bare Callable; it hands back the test it is given.
parametrize: Callable[[F], F] = fuzz_schema.parametrize()


class ErrorLog(logging.Handler):
    """Keeps the records of `bcc_images.errors`, to show the traceback behind an error id."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def traceback_for(self, error_id: str) -> str:
        """The logged message and traceback for one masked error, or a note that none was seen."""
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        for record in self.records:
            if record.args and isinstance(record.args, tuple) and record.args[0] == error_id:
                return formatter.format(record)
        return f"(nothing logged for error id {error_id})"


@pytest.fixture(scope="module")
def error_log() -> Iterator[ErrorLog]:
    """Server-side error records for the whole module (caplog is per test and per example)."""
    handler = ErrorLog()
    logger = logging.getLogger(ERRORS_LOGGER)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
def customer(factory: Factory) -> Tenant:
    """A fresh CUSTOMER per operation, with some balance so that paid paths are reached."""
    return factory.account(Role.CUSTOMER, balance="1000")


def internal_errors(body: Any) -> list[dict[str, Any]]:
    """The errors of a GraphQL response body that report an unexpected server failure."""
    if not isinstance(body, dict):
        return []
    errors = body.get("errors") or []
    return [
        error
        for error in errors
        if isinstance(error, dict)
        and isinstance(error.get("extensions"), dict)
        and error["extensions"].get("code") == "INTERNAL_SERVER_ERROR"
    ]


@parametrize
@settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    # too_slow: generating and sending documents through the real app is slower than Hypothesis
    # expects of a strategy. function_scoped_fixture: one customer per operation is intended, the
    # same account serves all examples of that operation.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_fuzz(
    case: schemathesis.Case[Any],
    app_client: TestClient,
    customer: Tenant,
    error_log: ErrorLog,
) -> None:
    document = case.body
    assert isinstance(document, str)
    response = app_client.post(
        GRAPHQL_PATH,
        json={"query": document},
        headers={**customer.headers, "Accept": "application/json"},
    )
    context = f"{case.operation.label}, HTTP {response.status_code}\n--- document ---\n{document}\n"

    assert response.status_code < 500, f"server error: {context}--- body ---\n{response.text}"
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    assert media_type in JSON_MEDIA_TYPES, f"not JSON ({media_type!r}): {context}{response.text}"
    try:
        body = response.json()
    except ValueError as exc:
        pytest.fail(f"body is not JSON ({exc}): {context}{response.text}")
    assert isinstance(body, dict), f"body is not a JSON object: {context}{response.text}"

    failures = internal_errors(body)
    if failures:
        tracebacks = "\n".join(
            error_log.traceback_for(str(error["extensions"].get("errorId"))) for error in failures
        )
        pytest.fail(
            f"INTERNAL_SERVER_ERROR: {context}--- errors ---\n"
            f"{json.dumps(body['errors'], indent=2)}\n--- server log ---\n{tracebacks}"
        )
