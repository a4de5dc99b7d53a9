"""The image of a launch, quote or rebuild and the source of a new image are each one @oneOf
input (ImageChoice, CaptureSource); the older pairs of fields still work, deprecated, and
giving both forms at once is refused (issue 22, R182, R208)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from starlette.testclient import TestClient

from tests.factories import Factory, Tenant, custom_image, gql
from tests.fixtures import CREATE, QUOTE, launch


def quote(client: TestClient, request: dict[str, Any]) -> dict[str, Any]:
    body = gql(client, QUOTE, {"i": request})
    answer: dict[str, Any] = body["data"]["priceQuote"] if body.get("data") else body
    return answer


def without_image(request: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in request.items() if k != "imageId"}


def test_image_by_id_or_by_family_quotes_the_same_as_the_older_fields(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    owner = factory.account(balance="1000")
    image_id = custom_image(engine, owner.id)
    family = gql(
        app_client,
        "mutation($i: SetImageFamilyInput!) { setImageFamily(input: $i) { userErrors { code } } }",
        {"i": {"imageId": image_id, "family": "web"}},
        owner,
    )["data"]["setImageFamily"]
    assert family["userErrors"] == []
    older = gql(app_client, QUOTE, {"i": launch(image_id)}, owner)["data"]["priceQuote"]
    by_id = gql(
        app_client,
        QUOTE,
        {"i": {**without_image(launch(image_id)), "image": {"id": image_id}}},
        owner,
    )["data"]["priceQuote"]
    by_family = gql(
        app_client,
        QUOTE,
        {"i": {**without_image(launch(image_id)), "image": {"family": "web"}}},
        owner,
    )["data"]["priceQuote"]
    assert older["userErrors"] == [] and older["total"]["amount"] != "0.00"
    assert by_id == older
    assert by_family == older


def test_a_launch_names_its_image_with_image(
    app_client: TestClient, factory: Factory, run_operations: Any
) -> None:
    tenant = factory.account(balance="1000")
    image_id = factory.public_image()
    request = {**without_image(launch(image_id)), "image": {"id": image_id}}
    created = gql(app_client, CREATE, {"i": request}, tenant)["data"]["createInstances"]
    assert created["userErrors"] == []
    assert created["instances"][0]["image"]["id"] == image_id


def test_both_keys_of_image_are_refused_before_anything_runs(
    app_client: TestClient, factory: Factory
) -> None:
    tenant = factory.account(balance="1000")
    image_id = factory.public_image()
    request = {**without_image(launch(image_id)), "image": {"id": image_id, "family": "web"}}
    body = gql(app_client, CREATE, {"i": request}, tenant, expect_errors=True)
    assert body.get("data") is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "exactly one key" in error["message"]
    # the same in a literal
    literal = app_client.post(
        "/graphql",
        json={
            "query": 'query { priceQuote(input: {region: "bj", flavor: "bcc.g5.c2m8", '
            'billing: {timing: POSTPAID}, image: {id: "m-aaaaaaaa", family: "web"}}) '
            "{ total { amount } } }"
        },
    ).json()
    assert literal.get("data") is None
    assert literal["errors"][0]["extensions"]["code"] in (
        "GRAPHQL_VALIDATION_FAILED",
        "BAD_USER_INPUT",
    )


def test_image_and_an_older_field_together_are_ambiguous(
    app_client: TestClient, factory: Factory
) -> None:
    tenant = factory.account(balance="1000")
    image_id = factory.public_image()
    request = {**launch(image_id), "image": {"id": image_id}}
    created = gql(app_client, CREATE, {"i": request}, tenant)["data"]["createInstances"]
    assert created["instances"] == []
    assert created["userErrors"] == [
        {
            "code": "IMAGE_SOURCE_AMBIGUOUS",
            "field": ["input", "image"],
            "message": "Name the image once: image, or the older imageId or imageFamily.",
        }
    ]
    quoted = gql(app_client, QUOTE, {"i": request}, tenant)["data"]["priceQuote"]
    assert [e["code"] for e in quoted["userErrors"]] == ["IMAGE_SOURCE_AMBIGUOUS"]


INTROSPECT = """{ choice: __type(name: "ImageChoice") { isOneOf inputFields { name } }
  source: __type(name: "CaptureSource") { isOneOf inputFields { name } }
  launch: __type(name: "CreateInstancesInput") {
    inputFields(includeDeprecated: true) { name isDeprecated deprecationReason } } }"""


def test_the_one_of_inputs_and_the_deprecated_fields_are_introspectable(
    app_client: TestClient,
) -> None:
    data = gql(app_client, INTROSPECT)["data"]
    assert data["choice"] == {"isOneOf": True, "inputFields": [{"name": "id"}, {"name": "family"}]}
    assert data["source"]["isOneOf"] is True
    fields = {f["name"]: f for f in data["launch"]["inputFields"]}
    assert fields["image"]["isDeprecated"] is False
    assert fields["imageId"]["isDeprecated"] and fields["imageFamily"]["isDeprecated"]
    assert "image:" in fields["imageId"]["deprecationReason"]


CREATE_IMAGE = """mutation($i: CreateImageInput!) { createImage(input: $i) {
  image { id source { kind } } userErrors { code field message } } }"""


def test_a_new_image_names_its_source_once(
    app_client: TestClient, factory: Factory, run_operations: Any
) -> None:
    owner: Tenant = factory.account(balance="1000")
    made = gql(app_client, CREATE, {"i": launch(factory.public_image())}, owner)
    instance_id = made["data"]["createInstances"]["instances"][0]["id"]
    run_operations()
    both = gql(
        app_client,
        CREATE_IMAGE,
        {"i": {"name": "golden", "source": {"instanceId": instance_id}, "instanceId": instance_id}},
        owner,
    )["data"]["createImage"]
    assert both["image"] is None
    assert both["userErrors"] == [
        {
            "code": "INVALID_INPUT",
            "field": ["input", "source"],
            "message": "Name what the image is made from once: source, or the older "
            "instanceId or snapshotId.",
        }
    ]
    started = gql(
        app_client,
        CREATE_IMAGE,
        {"i": {"name": "golden", "source": {"instanceId": instance_id}}},
        owner,
    )["data"]["createImage"]
    assert started["userErrors"] == []
    assert started["image"]["source"]["kind"] == "INSTANCE"


def test_refusals_about_the_image_point_at_what_the_caller_sent(
    app_client: TestClient, factory: Factory
) -> None:
    tenant = factory.account(balance="1000")
    request = {**without_image(launch("m-00000000"))}
    by_choice = gql(app_client, CREATE, {"i": {**request, "image": {"id": "m-00000000"}}}, tenant)
    by_older = gql(app_client, CREATE, {"i": {**request, "imageId": "m-00000000"}}, tenant)
    [choice_error] = by_choice["data"]["createInstances"]["userErrors"]
    [older_error] = by_older["data"]["createInstances"]["userErrors"]
    assert choice_error["code"] == older_error["code"] == "IMAGE_NOT_FOUND"
    assert choice_error["field"] == ["input", "image", "id"]
    assert older_error["field"] == ["input", "imageId"]
    family = gql(app_client, QUOTE, {"i": {**request, "image": {"family": "nothing-here"}}}, tenant)
    [family_error] = family["data"]["priceQuote"]["userErrors"]
    assert (family_error["code"], family_error["field"]) == (
        "FAMILY_EMPTY",
        ["input", "image", "family"],
    )
