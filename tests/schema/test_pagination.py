"""Every list field takes the four Relay arguments, and each of them reaches the page: the
``Paged`` field extension declares them once for all list fields (issue 13), so these tests
cover a field built by ``child_connection`` and an async resolver, besides the images list
that tests/schema/regions/test_catalogue.py walks.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, GraphQLScalarType
from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.accounts.permissions import OPERATOR
from app.clock import Clock
from app.database import write_session
from app.workflows import settlement
from schema import schema
from tests.factories import Factory, Tenant, custom_image, gql

RELAY = [("first", "Int"), ("after", "String"), ("last", "Int"), ("before", "String")]


def _named(kind: Any) -> Any:
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        kind = kind.of_type
    return kind


def test_every_connection_field_takes_the_four_relay_arguments_in_order() -> None:
    checked = []
    for type_name, named in schema._schema.type_map.items():
        if type_name.startswith("__") or not isinstance(named, GraphQLObjectType):
            continue
        for field_name, field in named.fields.items():
            if not _named(field.type).name.endswith("Connection"):
                continue
            arguments = list(field.args.items())
            names = [name for name, _ in arguments]
            at = names.index("first")
            relay = arguments[at : at + 4]
            assert [(name, _named(argument.type).name) for name, argument in relay] == RELAY, (
                f"{type_name}.{field_name}"
            )
            for name, argument in relay:
                assert isinstance(argument.type, GraphQLScalarType), f"{field_name}.{name}"
                assert argument.default_value is None, f"{field_name}.{name}"
            checked.append(f"{type_name}.{field_name}")
    # the list fields the API has: a new one is checked too, a lost one fails here
    assert {"Query.images", "Account.transactions", "Image.sharedWith"} <= set(checked)
    assert len(checked) >= 10


#: more pages than any list here holds, two at a time (a cursor that is ignored loops)
MOST_PAGES = 10


def _walk(fetch: Callable[[dict[str, Any]], dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Page a connection forward two at a time, then backward two at a time."""
    forward: list[str] = []
    after = None
    for _ in range(MOST_PAGES):
        page = fetch({"first": 2, "after": after})
        assert len(page["edges"]) <= 2
        forward += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    else:
        raise AssertionError("paging forward never reached the end")
    backward: list[str] = []
    before = None
    for _ in range(MOST_PAGES):
        page = fetch({"last": 2, "before": before})
        assert len(page["edges"]) <= 2
        backward = [edge["node"]["id"] for edge in page["edges"]] + backward
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
    else:
        raise AssertionError("paging backward never reached the start")
    return forward, backward


PAGE = "totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { node { id } }"


def test_a_child_connection_pages_both_ways(app_client: TestClient, factory: Factory) -> None:
    owner = factory.account(balance="1")
    with write_session(factory.engine) as session:
        for cents in range(4):
            settlement.top_up(
                session=session,
                viewer=OPERATOR,
                account_id=owner.id,
                amount=Decimal(f"1.0{cents}"),
                now=Clock(simulated=False).now(),
            )
    query = f"""query($first: Int, $after: String, $last: Int, $before: String) {{
      viewer {{ transactions(first: $first, after: $after, last: $last, before: $before) {{
        {PAGE} }} }} }}"""

    def fetch(variables: dict[str, Any]) -> dict[str, Any]:
        page: dict[str, Any] = gql(app_client, query, variables, owner)["data"]["viewer"][
            "transactions"
        ]
        return page

    everything = fetch({"first": 100})
    forward, backward = _walk(fetch)
    assert everything["totalCount"] == 5
    assert forward == backward == [edge["node"]["id"] for edge in everything["edges"]]


def test_an_async_list_field_pages_both_ways(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    owner = factory.account()
    recipients: list[Tenant] = [factory.account() for _ in range(5)]
    image_id = custom_image(engine, owner.id)
    share = (
        """mutation($i: ShareImageInput!) { shareImage(input: $i) { userErrors { message } } }"""
    )
    body = gql(
        app_client,
        share,
        {"i": {"imageId": image_id, "accountIds": [r.id for r in recipients]}},
        owner,
    )
    assert body["data"]["shareImage"]["userErrors"] == []
    query = f"""query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {{
      image(id: $id) {{ sharedWith(first: $first, after: $after, last: $last, before: $before) {{
        {PAGE} }} }} }}"""

    def fetch(variables: dict[str, Any]) -> dict[str, Any]:
        data = gql(app_client, query, {"id": image_id, **variables}, owner)["data"]
        page: dict[str, Any] = data["image"]["sharedWith"]
        return page

    forward, backward = _walk(fetch)
    assert sorted(forward) == sorted(r.id for r in recipients)
    assert forward == backward
