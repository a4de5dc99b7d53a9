"""The words, codes and fields of refusals that several services build with one helper
(``errors.not_owner`` and the tag list-size check): a caller reads the message, a console
places it by its field.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from starlette.testclient import TestClient

from tests.factories import Factory, Tenant, custom_image, gql

ERRORS = "userErrors { code field message }"
SHARE = f"mutation($i: ShareImageInput!) {{ shareImage(input: $i) {{ {ERRORS} }} }}"
RENAME = f"mutation($i: RenameImageInput!) {{ renameImage(input: $i) {{ {ERRORS} }} }}"
PROTECT = f"""mutation($i: SetImageDeletionProtectionInput!) {{
  setImageDeletionProtection(input: $i) {{ {ERRORS} }} }}"""
TAG = f"mutation($i: TagResourcesInput!) {{ tagResources(input: $i) {{ {ERRORS} }} }}"


def _errors(
    client: TestClient, document: str, field: str, given: dict[str, Any], tenant: Tenant
) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = gql(client, document, {"i": given}, tenant)["data"][field][
        "userErrors"
    ]
    return errors


def test_a_share_recipient_is_told_only_the_owner_may_change_the_image(
    app_client: TestClient, factory: Factory, engine: Engine
) -> None:
    owner, friend = factory.account(), factory.account()
    image_id = custom_image(engine, owner.id)
    share = {"imageId": image_id, "accountIds": [friend.id]}
    assert _errors(app_client, SHARE, "shareImage", share, owner) == []
    renamed = {"imageId": image_id, "name": "mine-now"}
    assert _errors(app_client, RENAME, "renameImage", renamed, friend) == [
        {
            "code": "PERMISSION_DENIED",
            "field": ["input", "imageId"],
            "message": f"Only the owner of image {image_id} can have it renamed.",
        }
    ]
    protect = {"imageId": image_id, "enabled": True}
    assert _errors(app_client, PROTECT, "setImageDeletionProtection", protect, friend) == [
        {
            "code": "PERMISSION_DENIED",
            "field": ["input", "imageId"],
            "message": f"Only the owner of image {image_id} can have it protected.",
        }
    ]
    tags = {"resourceIds": [image_id], "tags": [{"key": "team", "value": "web"}]}
    assert _errors(app_client, TAG, "tagResources", tags, friend) == [
        {
            "code": "PERMISSION_DENIED",
            "field": ["input", "resourceIds", "0"],
            "message": f"Only the owner of image {image_id} can tag it.",
        }
    ]


def test_tag_lists_of_the_wrong_size_are_named_with_their_bounds(
    app_client: TestClient, factory: Factory
) -> None:
    owner = factory.account()
    too_many = [{"key": f"k{n}", "value": ""} for n in range(51)]
    assert _errors(
        app_client, TAG, "tagResources", {"resourceIds": [], "tags": too_many}, owner
    ) == [
        {
            "code": "INVALID_INPUT",
            "field": ["input", "resourceIds"],
            "message": "resourceIds holds 1 to 100 ids; got 0.",
        },
        {
            "code": "INVALID_INPUT",
            "field": ["input", "tags"],
            "message": "tags holds 1 to 50 tags; got 51.",
        },
    ]
