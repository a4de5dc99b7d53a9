"""Bad input gets a clean, coded error and changes nothing (R91, R129, R130, R132)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from app.platform.viewer import Role
from tests.factories import Factory, Tenant, custom_image, gql

NUL = "a\u0000b"

#: query fields: (document, variables) -> BAD_USER_INPUT naming the argument
QUERY_INPUTS = {
    "images.nameContains": (
        "query($s: String) { images(filter: {nameContains: $s}) { nodes { id } } }",
        ["filter", "nameContains"],
    ),
    "listings.textContains": (
        "query($s: String) { listings(filter: {textContains: $s}) { nodes { id } } }",
        ["filter", "textContains"],
    ),
    "listings.category": (
        "query($s: String) { listings(filter: {category: $s}) { nodes { id } } }",
        ["filter", "category"],
    ),
    "priceQuote.region": (
        'query($s: ID!) { priceQuote(input: {region: $s, flavor: "bcc.g5.c2m8", '
        'imageId: "m-00000000", systemDisk: {storageType: CDS_SSD, sizeGb: 40}, '
        "billing: {timing: POSTPAID}}) { total { amount } } }",
        ["input", "region"],
    ),
    "priceQuote.flavor": (
        'query($s: String!) { priceQuote(input: {region: "bj", flavor: $s, '
        'imageId: "m-00000000", systemDisk: {storageType: CDS_SSD, sizeGb: 40}, '
        "billing: {timing: POSTPAID}}) { total { amount } } }",
        ["input", "flavor"],
    ),
}

LISTING = (
    "{kind: MARKET, title: %s, summary: %s, category: %s, version: %s, imageIds: [], "
    'plans: [{timing: PREPAID, months: 1, price: "1.00"}]}'
)


def _listing(
    title: str = '"t"', summary: str = '"s"', category: str = '"c"', version: str = '"1"'
) -> str:
    return LISTING % (title, summary, category, version)


#: mutations: (document, field path of the userError)
MUTATION_INPUTS = {
    "createImage.description": (
        'mutation($s: String!) { createImage(input: {name: "x", description: $s, '
        'instanceId: "i-00000000"}) { image { id } userErrors { code field message } } }',
        ["input", "description"],
    ),
    "importImage.os.name": (
        'mutation($s: String!) { importImage(input: {region: "bj", objectKey: "obj-0", name: "x", '
        'format: RAW, os: {type: LINUX, name: $s, version: "22.04"}}) '
        "{ image { id } userErrors { code field message } } }",
        ["input", "os", "name"],
    ),
    "importImage.os.arch": (
        'mutation($s: String!) { importImage(input: {region: "bj", objectKey: "obj-0", name: "x", '
        'format: RAW, os: {type: LINUX, name: "Ubuntu", version: "22.04", arch: $s}}) '
        "{ image { id } userErrors { code field message } } }",
        ["input", "os", "arch"],
    ),
    "shareImage.accountIds": (
        'mutation($s: ID!) { shareImage(input: {imageId: "m-00000000", accountIds: [$s]}) '
        "{ image { id } userErrors { code field message } } }",
        ["input", "accountIds", "0"],
    ),
    "createListing.title": (
        f"mutation($s: String!) {{ createListing(input: {_listing(title='$s')}) "
        "{ listing { id } userErrors { code field message } } }",
        ["input", "title"],
    ),
    "createListing.summary": (
        f"mutation($s: String!) {{ createListing(input: {_listing(summary='$s')}) "
        "{ listing { id } userErrors { code field message } } }",
        ["input", "summary"],
    ),
    "createListing.category": (
        f"mutation($s: String!) {{ createListing(input: {_listing(category='$s')}) "
        "{ listing { id } userErrors { code field message } } }",
        ["input", "category"],
    ),
    "createListing.version": (
        f"mutation($s: String!) {{ createListing(input: {_listing(version='$s')}) "
        "{ listing { id } userErrors { code field message } } }",
        ["input", "version"],
    ),
    "rejectListing.reason": (
        'mutation($s: String) { rejectListing(input: {listingId: "lst-00000000", reason: $s}) '
        "{ listing { id } userErrors { code field message } } }",
        ["input", "reason"],
    ),
    # an input built from the resolver's own arguments (InputMutationExtension) is checked too
    "setImageFamily.family": (
        'mutation($s: String) { setImageFamily(input: {imageId: "m-00000000", family: $s}) '
        "{ image { id } userErrors { code field message } } }",
        ["input", "family"],
    ),
    "disableImage.imageId": (
        "mutation($s: ID!) { disableImage(input: {imageId: $s}) "
        "{ image { id } userErrors { code field message } } }",
        ["input", "imageId"],
    ),
}


@pytest.mark.parametrize("name", list(QUERY_INPUTS))
def test_a_nul_byte_in_a_query_argument_is_bad_user_input(
    app_client: TestClient, factory: Factory, name: str
) -> None:
    document, path = QUERY_INPUTS[name]
    body = gql(app_client, document, {"s": NUL}, factory.account(), expect_errors=True)
    error = body["errors"][0]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": path}
    assert "U+0000" in error["message"]


@pytest.mark.parametrize("name", list(MUTATION_INPUTS))
def test_a_nul_byte_in_a_mutation_input_is_an_invalid_input_user_error(
    app_client: TestClient, factory: Factory, name: str
) -> None:
    document, path = MUTATION_INPUTS[name]
    tenant = factory.account(Role.ADMIN if "rejectListing" in name else Role.PROVIDER)
    body = gql(app_client, document, {"s": NUL}, tenant)
    payload = next(iter(body["data"].values()))
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID_INPUT", path)]
    assert "U+0000" in payload["userErrors"][0]["message"]
    assert all(v is None or v == [] for k, v in payload.items() if k != "userErrors")


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("two\nlines", True),  # free text may hold tabs and new lines
        ("tab\there", True),
        ("bell\u0007", False),
        ("del\u007f", False),
        ("c1\u0085", False),
    ],
)
def test_free_text_allows_line_breaks_but_no_other_controls(
    app_client: TestClient, factory: Factory, value: str, allowed: bool
) -> None:
    document, _ = MUTATION_INPUTS["createImage.description"]
    payload = gql(app_client, document, {"s": value}, factory.account())["data"]["createImage"]
    codes = [e["code"] for e in payload["userErrors"]]
    # allowed text reaches the service, which answers that the instance does not exist
    assert codes == (["INSTANCE_NOT_FOUND"] if allowed else ["INVALID_INPUT"])


@pytest.mark.parametrize("value", ["web\tserver", "web\nserver", "web\u202eserver", "x\u200f"])
def test_names_refuse_line_breaks_and_direction_overrides(
    app_client: TestClient, factory: Factory, value: str
) -> None:
    document = (
        'mutation($s: String!) { createImage(input: {name: $s, instanceId: "i-00000000"}) '
        "{ userErrors { code field } } }"
    )
    errors = gql(app_client, document, {"s": value}, factory.account())["data"]["createImage"][
        "userErrors"
    ]
    assert errors == [{"code": "INVALID_INPUT", "field": ["input", "name"]}]


@pytest.mark.parametrize("moment", ["2026-11-01T00:00:00", "2026-11-01"])
def test_times_without_an_offset_are_refused(
    app_client: TestClient, factory: Factory, moment: str
) -> None:
    provider = factory.account(Role.PROVIDER)
    query = "query($t: DateTime) { viewer { provider { revenue(from: $t) { amount } } } }"
    body = gql(app_client, query, {"t": moment}, provider, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["argument"] == ["from"]
    admin = factory.account(Role.ADMIN)
    settle = (
        "mutation($t: DateTime) { settleUsage(input: {until: $t}) { userErrors { code field } } }"
    )
    errors = gql(app_client, settle, {"t": moment}, admin)["data"]["settleUsage"]["userErrors"]
    assert errors == [{"code": "INVALID_INPUT", "field": ["input", "until"]}]


def test_times_with_an_offset_are_accepted(app_client: TestClient, factory: Factory) -> None:
    provider = factory.account(Role.PROVIDER)
    query = "query($t: DateTime) { viewer { provider { revenue(from: $t) { amount } } } }"
    body = gql(app_client, query, {"t": "2026-11-01T00:00:00+08:00"}, provider)
    assert body["data"]["viewer"]["provider"]["revenue"] == {"amount": "0.00"}


def test_a_long_id_is_not_echoed_whole(app_client: TestClient, factory: Factory) -> None:
    long_id = "m-" + "x" * 5000
    document = (
        'mutation($id: ID!) { renameImage(input: {imageId: $id, name: "n"}) '
        "{ userErrors { code message } } }"
    )
    errors = gql(app_client, document, {"id": long_id}, factory.account())["data"]["renameImage"][
        "userErrors"
    ]
    assert errors[0]["code"] == "IMAGE_NOT_FOUND"
    assert len(errors[0]["message"]) < 200


# -- cursors (R132) ----------------------------------------------------------------------------

PAGE = """query($f: ImageFilter, $after: String) {
  images(first: 1, filter: $f, after: $after) { pageInfo { endCursor } nodes { id } } }"""


def _cursor(client: TestClient, tenant: Tenant | None, filters: dict[str, Any]) -> str:
    body = gql(client, PAGE, {"f": filters}, tenant)
    cursor: str = body["data"]["images"]["pageInfo"]["endCursor"]
    return cursor


def test_a_cursor_works_for_its_own_list_and_any_viewer(
    app_client: TestClient, factory: Factory
) -> None:
    cursor = _cursor(app_client, None, {"region": "bj"})
    body = gql(app_client, PAGE, {"f": {"region": "bj"}, "after": cursor}, factory.account())
    assert body["data"]["images"]["nodes"]


def test_a_cursor_of_another_filter_is_refused(app_client: TestClient) -> None:
    cursor = _cursor(app_client, None, {"region": "bj"})
    body = gql(app_client, PAGE, {"f": {"region": "gz"}, "after": cursor}, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["message"] == "'after' is not a cursor of this list."


def test_a_cursor_of_another_connection_is_refused(
    app_client: TestClient, factory: Factory
) -> None:
    tenant = factory.account(balance="5")
    query = "{ viewer { transactions(first: 1) { pageInfo { endCursor } } } }"
    cursor = gql(app_client, query, tenant=tenant)["data"]["viewer"]["transactions"]["pageInfo"][
        "endCursor"
    ]
    body = gql(app_client, PAGE, {"f": None, "after": cursor}, expect_errors=True)
    assert body["errors"][0]["message"] == "'after' is not a cursor of this list."


def test_an_altered_cursor_is_refused(app_client: TestClient) -> None:
    cursor = _cursor(app_client, None, {"region": "bj"})
    encoded, signature = cursor.split(".")
    forged = encoded[:-2] + ("AA" if encoded[-2:] != "AA" else "BB") + "." + signature
    body = gql(app_client, PAGE, {"f": {"region": "bj"}, "after": forged}, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


# -- private details ---------------------------------------------------------------------------


def test_a_share_recipient_sees_no_source_id_and_cannot_filter_by_it(
    app_client: TestClient, factory: Factory, engine: Any
) -> None:
    owner, recipient = factory.account(), factory.account()
    image_id = custom_image(engine, owner.id)
    share = (
        "mutation($i: ID!, $a: ID!) { shareImage(input: {imageId: $i, accountIds: [$a]}) "
        "{ userErrors { code } } }"
    )
    assert (
        gql(app_client, share, {"i": image_id, "a": recipient.id}, owner)["data"]["shareImage"][
            "userErrors"
        ]
        == []
    )
    query = "query($id: ID!) { image(id: $id) { type source { kind id } } }"
    seen_by_owner = gql(app_client, query, {"id": image_id}, owner)["data"]["image"]
    seen_by_recipient = gql(app_client, query, {"id": image_id}, recipient, expect_errors=True)
    assert seen_by_owner["source"]["id"] is None  # the factory's image has no source id
    assert seen_by_recipient["data"]["image"] == {
        "type": "SHARED",
        "source": {"kind": "INSTANCE", "id": None},
    }
    assert [(e["path"], e["extensions"]["code"]) for e in seen_by_recipient["errors"]] == [
        (["image", "source", "id"], "FORBIDDEN")
    ]


def test_source_filter_only_finds_the_viewers_own_images(
    app_client: TestClient, factory: Factory, engine: Any
) -> None:
    from sqlmodel import Session

    from app.images.models import Image

    owner, recipient = factory.account(), factory.account()
    image_id = custom_image(engine, owner.id)
    with Session(engine) as session:
        image = session.get(Image, image_id)
        assert image is not None
        image.source_id = "i-Abcdefgh"
        session.add(image)
        session.commit()
    share = (
        "mutation($i: ID!, $a: ID!) { shareImage(input: {imageId: $i, accountIds: [$a]}) "
        "{ userErrors { code } } }"
    )
    gql(app_client, share, {"i": image_id, "a": recipient.id}, owner)
    query = (
        'query { images(filter: {sourceInstance: "i-Abcdefgh"}) { nodes { id source { id } } } }'
    )
    assert gql(app_client, query, tenant=owner)["data"]["images"]["nodes"] == [
        {"id": image_id, "source": {"id": "i-Abcdefgh"}}
    ]
    assert gql(app_client, query, tenant=recipient)["data"]["images"]["nodes"] == []


def test_administrators_have_no_powers_over_customers_instances(
    app_client: TestClient, factory: Factory
) -> None:
    from tests.fixtures import CREATE, launch

    owner, admin = factory.account(balance="500"), factory.account(Role.ADMIN)
    image = gql(
        app_client,
        '{ images(first: 1, filter: {region: "bj", osType: LINUX, types: [PUBLIC], '
        'generation: BCC, flavor: "bcc.g5.c2m8"}) { nodes { id } } }',
    )["data"]["images"]["nodes"][0]["id"]
    created = gql(app_client, CREATE, {"i": launch(image)}, owner)["data"]["createInstances"]
    instance_id = created["instances"][0]["id"]
    actions = {
        "stopInstance": "stopInstance(input: {instanceId: $i})",
        "startInstance": "startInstance(input: {instanceId: $i})",
        "releaseInstance": "releaseInstance(input: {instanceId: $i})",
        "rebuildInstance": f'rebuildInstance(input: {{instanceId: $i, imageId: "{image}"}})',
        "createSnapshot": 'createSnapshot(input: {instanceId: $i, name: "s"})',
        "createImage": 'createImage(input: {instanceId: $i, name: "x"})',
    }
    for name, call in actions.items():
        document = f"mutation($i: ID!) {{ {call} {{ userErrors {{ code field }} }} }}"
        errors = gql(app_client, document, {"i": instance_id}, admin)["data"][name]["userErrors"]
        assert errors == [{"code": "PERMISSION_DENIED", "field": ["input", "instanceId"]}], name
    # an admin still sees the instance
    seen = gql(app_client, "query($i: ID!) { instance(id: $i) { id } }", {"i": instance_id}, admin)
    assert seen["data"]["instance"] == {"id": instance_id}
