"""The document limits measure the whole document, every operation and fragment whether it
runs or not (R152); introspection costs 10 per root selection (R152, replacing R120's flat
10); several operations and no operationName is a bad request (R195).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from graphql import get_introspection_query, parse
from starlette.testclient import TestClient

from schema import schema
from schema.limits.cost import requested_cost
from schema.limits.shape import select_operation

GRAPHQL_RESPONSE = "application/graphql-response+json"
REPEATED = " ".join("a: images { nodes { id } }" for _ in range(300))
UNSELECTED_OPERATION = "query A { __typename } query B { " + REPEATED + " }"
UNUSED_FRAGMENT = "query A { __typename } fragment F on Query { " + REPEATED + " }"


def post(
    client: TestClient,
    query: str,
    operation_name: str | None = None,
    accept: str = "application/json",
    variables: dict[str, Any] | None = None,
) -> tuple[int, dict[str, Any]]:
    response = client.post(
        "/graphql",
        json={"query": query, "operationName": operation_name, "variables": variables or {}},
        headers={"Accept": accept},
    )
    body: dict[str, Any] = response.json()
    return response.status_code, body


def code_of(body: dict[str, Any]) -> str:
    code: str = body["errors"][0]["extensions"]["code"]
    return code


@pytest.mark.parametrize(
    "query",
    [UNSELECTED_OPERATION, UNUSED_FRAGMENT],
    ids=["unselected-operation", "unused-fragment"],
)
def test_what_does_not_run_is_measured_before_validation(
    app_client: TestClient, query: str
) -> None:
    # when a document runs a cheap operation but also holds 300 repeats of one field elsewhere
    started = time.monotonic()
    _, body = post(app_client, query, "A")
    elapsed = time.monotonic() - started

    # then it is refused by the linear checks, not validated for a second
    assert code_of(body) == "QUERY_TOO_COMPLEX"
    assert "300" in body["errors"][0]["message"]
    assert "data" not in body
    assert body["extensions"]["cost"]["requested"] == 1
    assert elapsed < 0.3


@pytest.mark.parametrize(
    ("elsewhere", "message"),
    [
        (
            "query B { " + " ".join(f"a{i}: __typename" for i in range(31)) + " }",
            "31 aliases",
        ),
        (
            "fragment F on Query { " + "a { " * 13 + "b" + " }" * 13 + " }",
            "The document is 14 fields deep",
        ),
        (
            "query B { " + " ".join(f"r{i % 20}: regions {{ code }}" for i in range(501)) + " }",
            "fields (fragments expanded)",
        ),
        (
            "query B { ...F0 } "
            + " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(30))
            + " fragment F30 on Query { __typename }",
            "fields (fragments expanded)",
        ),
    ],
    ids=["aliases", "depth", "fields", "fan-out"],
)
def test_every_limit_counts_what_does_not_run(
    app_client: TestClient, elsewhere: str, message: str
) -> None:
    _, body = post(app_client, "query A { __typename } " + elsewhere, "A")
    assert code_of(body) == "QUERY_TOO_COMPLEX"
    assert message in body["errors"][0]["message"]


def test_the_limits_add_up_over_the_operations(app_client: TestClient) -> None:
    # two operations of 20 aliases each: 40 in the document
    one = " ".join(f"a{i}: __typename" for i in range(20))
    _, body = post(app_client, f"query A {{ {one} }} query B {{ {one} }}", "A")
    assert code_of(body) == "QUERY_TOO_COMPLEX"
    assert "40 aliases" in body["errors"][0]["message"]


def test_an_unselected_operation_over_the_cost_limit_refuses_the_document(
    app_client: TestClient,
) -> None:
    costly = "query B { images(first: 100) { nodes { region { code } os { name } " + (
        "chargeRoot { listing { id } } listing { id } source { region { code } } owner { id } "
        "failure { code } } } }"
    )
    _, body = post(app_client, "query A { __typename } " + costly, "A")
    assert code_of(body) == "QUERY_TOO_COMPLEX"
    assert body["errors"][0]["message"].startswith("Query cost 1002 exceeds the limit of 1000")
    assert "data" not in body


def test_the_selected_operation_is_what_is_charged(app_client: TestClient) -> None:
    document = "query A { regions { code } } query B { __typename }"
    _, cheap = post(app_client, document, "B")
    _, dear = post(app_client, document, "A")
    assert cheap["data"] == {"__typename": "Query"}
    assert cheap["extensions"]["cost"]["requested"] == 1
    assert dear["extensions"]["cost"]["requested"] == 20


@pytest.mark.parametrize(
    ("query", "cost"),
    [
        ("{ __schema { types { name } } }", 10),
        ("{ a: __schema { types { name } } b: __schema { types { name } } }", 20),
        ('{ __type(name: "Image") { name } __schema { queryType { name } } }', 20),
        (
            '{ a: __type(name: "Image") { name } b: __type(name: "Region") { name } regions { id } }',
            40,
        ),
        ("{ ...I ...I ...I } fragment I on Query { __schema { types { name } } }", 30),
    ],
)
def test_introspection_costs_10_per_root_selection(query: str, cost: int) -> None:
    document = parse(query)
    operation = select_operation(document, None)
    assert operation is not None
    assert requested_cost(schema._schema, document, operation, {}) == cost


def test_aliased_introspection_is_charged_per_alias(app_client: TestClient) -> None:
    # when the schema is introspected 21 times under aliases in one request
    query = "{ " + " ".join(f"s{i}: __schema {{ types {{ name }} }}" for i in range(21)) + " }"
    _, body = post(app_client, query)

    # then each alias is charged, requested and actual
    assert body["extensions"]["cost"]["requested"] == 210
    assert body["extensions"]["cost"]["actual"] == 210


def test_the_standard_introspection_query_still_costs_10(app_client: TestClient) -> None:
    _, body = post(app_client, get_introspection_query(descriptions=True))
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"
    assert body["extensions"]["cost"]["requested"] == 10


@pytest.mark.parametrize(("accept", "status"), [("application/json", 200), (GRAPHQL_RESPONSE, 400)])
def test_several_operations_and_no_name_is_a_bad_request(
    app_client: TestClient, accept: str, status: int
) -> None:
    # when a document holds two operations and the request does not say which to run
    got, body = post(
        app_client, "query A { __typename } query B { regions { code } }", None, accept
    )

    # then nothing runs: a request error with code BAD_REQUEST and no data
    assert got == status
    assert code_of(body) == "BAD_REQUEST"
    assert "operationName" in body["errors"][0]["message"]
    assert "data" not in body
    assert body["extensions"]["cost"]["requested"] == 1


def test_an_anonymous_operation_among_several_is_a_bad_request(app_client: TestClient) -> None:
    _, body = post(app_client, "{ __typename } query B { regions { code } }")
    assert code_of(body) == "BAD_REQUEST"
    assert "data" not in body


def test_one_operation_needs_no_name(app_client: TestClient) -> None:
    _, body = post(app_client, "query A { __typename } fragment F on Query { __typename }")
    assert code_of(body) == "GRAPHQL_VALIDATION_FAILED"  # F is unused: validation, not selection
    _, body = post(app_client, "query A { __typename }")
    assert body["data"] == {"__typename": "Query"}
