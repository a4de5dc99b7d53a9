"""Shares the recipient controls, over real HTTP with real tenants (issue 25; R172, R198): an
attacker fills a victim's slots of images shared with it; the victim declines one and a
legitimate share then succeeds; the attacker cannot share the declined image again; under
MANUAL acceptance new shares wait as invitations that cost the victim nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.acceptance.conftest import QUICK, Server, own_server, running_instance
from tests.acceptance.test_governance import Fleet
from tests.factories import Tenant
from tests.fixtures import DELETE

SHARE = """mutation($i: ShareImageInput!) { shareImage(input: $i) {
  image { id sharedWith(first: 10) { totalCount edges { status node { id } } } }
  userErrors { code field message } } }"""
UNSHARE = """mutation($i: UnshareImageInput!) { unshareImage(input: $i) {
  image { sharedWith(first: 10) { edges { status node { id } } } } userErrors { code } } }"""
ACCEPT = """mutation($id: ID!) { acceptImageShare(input: {imageId: $id}) {
  status imageId userErrors { code field message } } }"""
DECLINE = """mutation($id: ID!) { declineImageShare(input: {imageId: $id}) {
  status imageId userErrors { code field message } } }"""
MODE = """mutation($m: ShareAcceptance!) { setShareAcceptance(input: {mode: $m}) {
  account { id shareAcceptance } userErrors { code } } }"""
INVITATIONS = """{ shareInvitations(first: 10) { totalCount nodes {
  imageId imageName ownerAccountId status region { code } } } }"""
MINE = """{ images(first: 50, filter: {types: [SHARED]}) { nodes { id } } }"""
IMAGE = "query($id: ID!) { image(id: $id) { id } }"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Fleet, Tenant]]:
    """An attacker and a legitimate owner, each with a running instance to capture images
    from, and their victim, who may hold two images shared with it."""
    settings = {**QUICK, "shared_with_me_quota": 2}
    with own_server(tmp_path_factory, "shares-data", settings) as server:
        attacker, owner = server.account(balance="5000"), server.account(balance="5000")
        victim = server.account()
        yield (
            Fleet(server, attacker, victim, running_instance(server, attacker)),
            Fleet(server, owner, victim, running_instance(server, owner)),
            victim,
        )


def _share(fleet: Fleet, image_id: str, *recipients: str) -> dict[str, Any]:
    payload: dict[str, Any] = fleet.server.gql(
        SHARE, {"i": {"imageId": image_id, "accountIds": list(recipients)}}, fleet.owner
    )["data"]["shareImage"]
    return payload


def _act(server: Server, document: str, image_id: str, tenant: Tenant) -> dict[str, Any]:
    payload: dict[str, Any] = next(
        iter(server.gql(document, {"id": image_id}, tenant)["data"].values())
    )
    return payload


def _shared_with_me(server: Server, victim: Tenant) -> set[str]:
    return {n["id"] for n in server.gql(MINE, tenant=victim)["data"]["images"]["nodes"]}


def test_a_victim_declines_what_fills_its_slots_and_invitations_cost_it_nothing(
    world: tuple[Fleet, Fleet, Tenant],
) -> None:
    attack, legit, victim = world
    server = attack.server
    junk = [attack.capture() for _ in range(3)]
    good, better = legit.capture(), legit.capture()
    # the attacker fills the victim's two slots; the refusals tell nobody the victim's counts
    for image_id in junk[:2]:
        assert _share(attack, image_id, victim.id)["userErrors"] == []
    full = f"Account {victim.id} holds as many images shared with it as it may."
    for fleet, image_id in ((attack, junk[2]), (legit, good)):
        refused = _share(fleet, image_id, victim.id)["userErrors"]
        assert refused == [
            {
                "code": "RECIPIENT_QUOTA_EXCEEDED",
                "field": ["input", "accountIds", "0"],
                "message": full,
            }
        ]
    assert _shared_with_me(server, victim) == set(junk[:2])

    # the victim leaves one; the legitimate share then succeeds
    assert _act(server, DECLINE, junk[0], victim) == {
        "status": "DECLINED",
        "imageId": junk[0],
        "userErrors": [],
    }
    assert _shared_with_me(server, victim) == {junk[1]}
    assert server.gql(IMAGE, {"id": junk[0]}, victim)["data"]["image"] is None
    shared = _share(legit, good, victim.id)
    assert shared["userErrors"] == []
    assert shared["image"]["sharedWith"]["edges"] == [
        {"status": "ACCEPTED", "node": {"id": victim.id}}
    ]
    assert _shared_with_me(server, victim) == {junk[1], good}

    # the declined image cannot be pushed again: the whole request fails, naming the entry
    again = _share(attack, junk[0], legit.owner.id, victim.id)
    assert [(e["code"], e["field"]) for e in again["userErrors"]] == [
        ("SHARE_DECLINED", ["input", "accountIds", "1"])
    ]
    edges = server.gql(
        UNSHARE, {"i": {"imageId": junk[0], "accountIds": [victim.id]}}, attack.owner
    )
    assert edges["data"]["unshareImage"]["image"]["sharedWith"]["edges"] == [
        {"status": "DECLINED", "node": {"id": victim.id}}  # unsharing leaves a decline as it is
    ]
    # a declined share does not hold the image: its owner may delete it
    deleted = server.gql(DELETE, {"id": junk[0]}, attack.owner)["data"]["deleteImage"]
    assert deleted["userErrors"] == []

    # MANUAL: new shares wait as invitations, invisible and free until accepted
    assert server.gql(MODE, {"m": "MANUAL"}, victim)["data"]["setShareAcceptance"]["account"] == {
        "id": victim.id,
        "shareAcceptance": "MANUAL",
    }
    pending = _share(attack, junk[2], victim.id)
    assert pending["userErrors"] == []  # no quota is checked: an invitation costs nothing
    assert pending["image"]["sharedWith"]["edges"] == [
        {"status": "PENDING", "node": {"id": victim.id}}
    ]
    assert _share(legit, better, victim.id)["userErrors"] == []
    assert _shared_with_me(server, victim) == {junk[1], good}
    assert server.gql(IMAGE, {"id": junk[2]}, victim)["data"]["image"] is None
    invitations = server.gql(INVITATIONS, tenant=victim)["data"]["shareInvitations"]
    assert invitations["totalCount"] == 2
    assert {
        (n["imageId"], n["ownerAccountId"], n["status"], n["region"]["code"])
        for n in invitations["nodes"]
    } == {
        (junk[2], attack.owner.id, "PENDING", "bj"),
        (better, legit.owner.id, "PENDING", "bj"),
    }
    # accepting is within the victim's own quota, and says its own count
    over = _act(server, ACCEPT, better, victim)
    assert [(e["code"], e["message"]) for e in over["userErrors"]] == [
        (
            "RECIPIENT_QUOTA_EXCEEDED",
            "You already hold 2 images shared with you, the most you may; decline one you no "
            "longer need first.",
        )
    ]
    assert _act(server, DECLINE, junk[1], victim)["status"] == "DECLINED"
    assert _act(server, DECLINE, junk[2], victim)["status"] == "DECLINED"
    assert _act(server, ACCEPT, better, victim)["status"] == "ACCEPTED"
    assert _shared_with_me(server, victim) == {good, better}
    declined = server.gql(INVITATIONS, tenant=victim)["data"]["shareInvitations"]["nodes"]
    assert {(n["imageId"], n["status"]) for n in declined} == {
        (junk[1], "DECLINED"),
        (junk[2], "DECLINED"),
    }
    # a stranger's accept or decline finds nothing
    for document in (ACCEPT, DECLINE):
        stranger = _act(server, document, good, attack.owner)
        assert [e["code"] for e in stranger["userErrors"]] == ["IMAGE_NOT_FOUND"]
