"""Accounts, tokens, viewer and top-ups (R74, R80-R82, R90)."""

from __future__ import annotations

from starlette.testclient import TestClient

from app.platform.viewer import Role
from tests.factories import Factory, Tenant, gql

CREATE_ACCOUNT = """mutation($input: CreateAccountInput!) {
  createAccount(input: $input) { account { id name role } userErrors { code field message } } }"""
CREATE_TOKEN = """mutation($input: CreateApiTokenInput!) {
  createApiToken(input: $input) { token apiToken { id accountId revokedAt }
  userErrors { code field message } } }"""
REVOKE_TOKEN = """mutation($input: RevokeApiTokenInput!) {
  revokeApiToken(input: $input) { apiToken { id revokedAt } userErrors { code field message } } }"""
TOP_UP = """mutation($input: TopUpAccountInput!) {
  topUpAccount(input: $input) { account { id balance { amount currency } }
  transaction { kind amount { amount } balanceAfter { amount } }
  userErrors { code field message } } }"""
VIEWER = """{ viewer { id role balance { amount } inArrears
  transactions(first: 10) { nodes { kind amount { amount } } } } }"""


def test_viewer_is_null_when_anonymous(app_client: TestClient) -> None:
    assert gql(app_client, "{ viewer { id } }")["data"] == {"viewer": None}


def test_viewer_shows_own_balance_and_ledger(app_client: TestClient, factory: Factory) -> None:
    tenant = factory.account(balance="250.50")
    viewer = gql(app_client, VIEWER, tenant=tenant)["data"]["viewer"]
    assert viewer["id"] == tenant.id
    assert viewer["role"] == "CUSTOMER"
    assert viewer["balance"] == {"amount": "250.50"}
    assert viewer["inArrears"] is False
    assert viewer["transactions"]["nodes"] == [{"kind": "TOP_UP", "amount": {"amount": "250.50"}}]


def test_admin_creates_account_and_token_that_authenticates(
    app_client: TestClient, factory: Factory
) -> None:
    admin = factory.account(Role.ADMIN)
    created = gql(
        app_client, CREATE_ACCOUNT, {"input": {"name": "Partner Co", "role": "PROVIDER"}}, admin
    )
    account = created["data"]["createAccount"]["account"]
    assert account["role"] == "PROVIDER"
    assert account["id"].startswith("acc-")
    token_data = gql(app_client, CREATE_TOKEN, {"input": {"accountId": account["id"]}}, admin)
    secret = token_data["data"]["createApiToken"]["token"]
    assert len(secret) >= 43  # 32 random bytes, url-safe base64
    as_new = Tenant(account["id"], secret, token_data["data"]["createApiToken"]["apiToken"]["id"])
    assert gql(app_client, "{ viewer { id name } }", tenant=as_new)["data"]["viewer"] == {
        "id": account["id"],
        "name": "Partner Co",
    }


def test_customer_cannot_create_accounts(app_client: TestClient, factory: Factory) -> None:
    customer = factory.account()
    body = gql(app_client, CREATE_ACCOUNT, {"input": {"name": "x", "role": "ADMIN"}}, customer)
    assert body["data"]["createAccount"] == {
        "account": None,
        "userErrors": [
            {
                "code": "PERMISSION_DENIED",
                "field": None,
                "message": "Only an administrator may do this.",
            }
        ],
    }


def test_anonymous_mutation_is_unauthenticated(app_client: TestClient) -> None:
    body = gql(
        app_client, CREATE_ACCOUNT, {"input": {"name": "x", "role": "ADMIN"}}, expect_errors=True
    )
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_bad_account_name_changes_nothing(app_client: TestClient, factory: Factory) -> None:
    admin = factory.account(Role.ADMIN)
    body = gql(app_client, CREATE_ACCOUNT, {"input": {"name": " ", "role": "CUSTOMER"}}, admin)
    assert body["data"]["createAccount"]["userErrors"] == [
        {
            "code": "INVALID_NAME",
            "field": ["input", "name"],
            "message": "Account names may not start or end with spaces.",
        }
    ]


def test_token_for_unknown_account(app_client: TestClient, factory: Factory) -> None:
    admin = factory.account(Role.ADMIN)
    body = gql(app_client, CREATE_TOKEN, {"input": {"accountId": "acc-00000000"}}, admin)
    assert body["data"]["createApiToken"]["userErrors"] == [
        {
            "code": "INVALID_ACCOUNT",
            "field": ["input", "accountId"],
            "message": "There is no account 'acc-00000000'.",
        }
    ]


def test_revoked_token_is_refused_with_401(app_client: TestClient, factory: Factory) -> None:
    tenant = factory.account()
    body = gql(app_client, REVOKE_TOKEN, {"input": {"tokenId": tenant.token_id}}, tenant)
    assert body["data"]["revokeApiToken"]["apiToken"]["revokedAt"] is not None
    response = app_client.post(
        "/graphql", json={"query": "{ viewer { id } }"}, headers=tenant.headers
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_cannot_revoke_someone_elses_token(app_client: TestClient, factory: Factory) -> None:
    tenant, other = factory.account(), factory.account()
    body = gql(app_client, REVOKE_TOKEN, {"input": {"tokenId": other.token_id}}, tenant)
    assert body["data"]["revokeApiToken"]["userErrors"][0]["code"] == "TOKEN_NOT_FOUND"
    assert gql(app_client, "{ viewer { id } }", tenant=other)["data"]["viewer"]["id"] == other.id


def test_bogus_tokens_are_unauthenticated(app_client: TestClient) -> None:
    for header in ("Bearer nope", "Bearer bcci_" + "x" * 43, "Basic Zm9vOmJhcg==", "Bearer "):
        response = app_client.post(
            "/graphql", json={"query": "{ regions { id } }"}, headers={"Authorization": header}
        )
        assert response.status_code == 401, header


def test_top_up_credits_balance_and_ledger(app_client: TestClient, factory: Factory) -> None:
    admin, customer = factory.account(Role.ADMIN), factory.account()
    body = gql(app_client, TOP_UP, {"input": {"accountId": customer.id, "amount": "100.10"}}, admin)
    payload = body["data"]["topUpAccount"]
    assert payload["userErrors"] == []
    assert payload["transaction"] == {
        "kind": "TOP_UP",
        "amount": {"amount": "100.10"},
        "balanceAfter": {"amount": "100.10"},
    }
    gql(app_client, TOP_UP, {"input": {"accountId": customer.id, "amount": "0.90"}}, admin)
    viewer = gql(app_client, VIEWER, tenant=customer)["data"]["viewer"]
    assert viewer["balance"] == {"amount": "101.00"}


def test_top_up_refuses_bad_amounts_and_changes_nothing(
    app_client: TestClient, factory: Factory
) -> None:
    admin, customer = factory.account(Role.ADMIN), factory.account()
    for amount in ("0", "1.001", "99999999999"):
        body = gql(
            app_client, TOP_UP, {"input": {"accountId": customer.id, "amount": amount}}, admin
        )
        errors = body["data"]["topUpAccount"]["userErrors"]
        assert [(e["code"], e["field"]) for e in errors] == [
            ("INVALID_INPUT", ["input", "amount"])
        ], amount
    # not a plain ASCII decimal string: refused before the mutation runs (R129)
    malformed: list[object] = [
        "-5",
        "NaN",
        "1_000",
        "\u0661\u0662",
        " 5 ",
        "+5",
        "1E2",
        "1.",
        "",
        5,
        1e300,
        "5.5.5",
    ]
    for bad in malformed:
        body = gql(
            app_client,
            TOP_UP,
            {"input": {"accountId": customer.id, "amount": bad}},
            admin,
            expect_errors=True,
        )
        assert "data" not in body, bad
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", bad
    assert gql(app_client, VIEWER, tenant=customer)["data"]["viewer"]["balance"] == {
        "amount": "0.00"
    }


def test_customer_cannot_top_up(app_client: TestClient, factory: Factory) -> None:
    customer = factory.account()
    body = gql(app_client, TOP_UP, {"input": {"accountId": customer.id, "amount": "5"}}, customer)
    assert body["data"]["topUpAccount"]["userErrors"][0]["code"] == "PERMISSION_DENIED"


def test_other_accounts_balance_is_forbidden(app_client: TestClient, factory: Factory) -> None:
    admin, customer = factory.account(Role.ADMIN), factory.account(balance="7")
    query = "query($id: ID!) { node(id: $id) { ... on Account { id balance { amount } } } }"
    assert gql(app_client, query, {"id": customer.id}, admin)["data"]["node"]["balance"] == {
        "amount": "7.00"
    }
    other = factory.account()
    assert gql(app_client, query, {"id": customer.id}, other)["data"]["node"] is None


SET_QUOTA = """mutation($input: SetAccountQuotaInput!) {
  setAccountQuota(input: $input) { account { id customImageQuota } userErrors { code } } }"""


def test_an_omitted_nullable_input_field_is_null(app_client: TestClient, factory: Factory) -> None:
    """setAccountQuota without customImagesPerRegion returns the account to the default, as
    with an explicit null (the resolver gets None, never an unset marker)."""
    admin, customer = factory.account(Role.ADMIN), factory.account()
    raised = {"accountId": customer.id, "customImagesPerRegion": 3}
    payload = gql(app_client, SET_QUOTA, {"input": raised}, admin)["data"]["setAccountQuota"]
    assert payload == {"account": {"id": customer.id, "customImageQuota": 3}, "userErrors": []}
    for cleared in ({"accountId": customer.id}, {**raised, "customImagesPerRegion": None}):
        gql(app_client, SET_QUOTA, {"input": raised}, admin)
        payload = gql(app_client, SET_QUOTA, {"input": cleared}, admin)["data"]["setAccountQuota"]
        assert payload["userErrors"] == []
        assert payload["account"]["customImageQuota"] != 3
