"""Share invitations and acceptances, and lifecycle policies, hold their limits under
concurrency (R155, R198, R175): the races of ``test_races`` (`serve --workers 3`, twelve
requests released together from real threads), for the recipient's side of sharing and for
an account's policies.
"""

from __future__ import annotations

from collections import Counter

from tests.acceptance import test_races
from tests.acceptance.conftest import Server
from tests.acceptance.test_races import (
    AT_ONCE,
    COUNT,
    SHARED_WITH_ME,
    at_once,
    custom_images,
    log_size,
    no_internal_errors,
    ok,
    outcome,
)
from tests.fixtures import SHARE

#: the same `serve --workers 3` with small quotas as the other races
races = test_races.races

MODE = """mutation($i: SetShareAcceptanceInput!) { setShareAcceptance(input: $i) {
  account { shareAcceptance } userErrors { code field message } } }"""
ACCEPT = """mutation($i: AcceptImageShareInput!) { acceptImageShare(input: $i) {
  status userErrors { code field message } } }"""
INVITATIONS = "{ shareInvitations(first: 1) { totalCount } }"


def test_invitations_to_one_recipient_at_once_stay_within_their_limit(races: Server) -> None:
    """R198: at most 10 invitations from one sharer wait for one account."""
    since = log_size(races)
    owner = races.account(balance="5000")
    images = custom_images(races, owner, AT_ONCE)
    recipient = races.account()
    ok(races, recipient, MODE, {"mode": "MANUAL"})

    payloads = at_once(
        races, owner, SHARE, [{"imageId": i, "accountIds": [recipient.id]} for i in images]
    )

    limit = 10
    refused = Counter({"SHARE_INVITATIONS_FULL": AT_ONCE - limit})
    assert outcome(payloads) == (limit, refused)
    waiting = races.gql(INVITATIONS, tenant=recipient)["data"]["shareInvitations"]
    assert waiting["totalCount"] == limit
    no_internal_errors(races, since)


def test_accepting_invitations_at_once_stays_within_the_recipients_quota(races: Server) -> None:
    """R172: invitations cost nothing; accepting them is counted with the account locked."""
    since = log_size(races)
    owners = [races.account(balance="5000") for _ in range(2)]
    recipient = races.account()
    ok(races, recipient, MODE, {"mode": "MANUAL"})
    images = []
    for owner in owners:  # two sharers: one may have only ten invitations waiting
        for image_id in custom_images(races, owner, AT_ONCE // 2):
            ok(races, owner, SHARE, {"imageId": image_id, "accountIds": [recipient.id]})
            images.append(image_id)

    payloads = at_once(races, recipient, ACCEPT, [{"imageId": i} for i in images])

    refused = Counter({"RECIPIENT_QUOTA_EXCEEDED": AT_ONCE - SHARED_WITH_ME})
    assert outcome(payloads) == (SHARED_WITH_ME, refused)
    shared = races.gql(COUNT, {"r": "bj", "t": ["SHARED"]}, recipient)["data"]["images"]
    assert shared["totalCount"] == SHARED_WITH_ME
    no_internal_errors(races, since)


CREATE_POLICY = """mutation($i: CreateImageLifecyclePolicyInput!) {
  createImageLifecyclePolicy(input: $i) { policy { id } userErrors { code field message } } }"""
POLICIES = "{ imageLifecyclePolicies { id } }"


def test_policies_created_at_once_stay_within_ten_per_account(races: Server) -> None:
    """R175: at most 10 lifecycle policies per account, counted with the account locked."""
    since = log_size(races)
    owner = races.account()
    policy = {"region": "bj", "selector": {"family": "web"}, "rules": {"deleteAfterDays": 30}}
    limit = 10
    for n in range(limit - 1):  # one place left: every racer sees it free without the lock
        ok(races, owner, CREATE_POLICY, {**policy, "name": f"first {n}"})
    inputs = [{**policy, "name": f"racer {n}"} for n in range(AT_ONCE)]

    payloads = at_once(races, owner, CREATE_POLICY, inputs)

    refused = Counter({"LIFECYCLE_POLICY_QUOTA_EXCEEDED": AT_ONCE - 1})
    assert outcome(payloads) == (1, refused)
    assert len(races.gql(POLICIES, tenant=owner)["data"]["imageLifecyclePolicies"]) == limit
    no_internal_errors(races, since)
