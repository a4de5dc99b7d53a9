"""Account mutations: accounts, tokens and top-ups (admin actions, R82)."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from app.accounts import service
from app.accounts.rules import Role as DomainRole
from app.workflows import settlement
from schema.accounts.types import Account, ApiToken, Transaction
from schema.context import Info
from schema.errors import Call, Payload, mutate
from schema.permissions import SignedIn


@strawberry.input(description="A new account.")
class CreateAccountInput:
    name: str = strawberry.field(description="Display name, 1-65 printable characters.")
    role: DomainRole = strawberry.field(description="CUSTOMER, PROVIDER or ADMIN.")


@strawberry.type(description="Result of createAccount.")
class CreateAccountPayload(Payload):
    account: Account | None = strawberry.field(description="The new account.")


@strawberry.input(description="Which account gets a new token.")
class CreateApiTokenInput:
    account_id: strawberry.ID = strawberry.field(description="Account id (acc-...).")


@strawberry.type(description="Result of createApiToken.")
class CreateApiTokenPayload(Payload):
    api_token: ApiToken | None = strawberry.field(description="The token's record.")
    token: str | None = strawberry.field(
        description="The secret bearer token. Shown only here, once; store it safely."
    )


@strawberry.input(description="Which token to revoke.")
class RevokeApiTokenInput:
    token_id: strawberry.ID = strawberry.field(description="Token id (tok-...).")


@strawberry.type(description="Result of revokeApiToken.")
class RevokeApiTokenPayload(Payload):
    api_token: ApiToken | None = strawberry.field(description="The revoked token.")


@strawberry.input(description="A credit to an account's balance.")
class TopUpAccountInput:
    account_id: strawberry.ID = strawberry.field(description="Account id (acc-...).")
    amount: Decimal = strawberry.field(description="CNY, positive, at most 2 decimals.")


@strawberry.type(description="Result of topUpAccount.")
class TopUpAccountPayload(Payload):
    account: Account | None = strawberry.field(description="The credited account.")
    transaction: Transaction | None = strawberry.field(description="The TOP_UP ledger entry.")


@strawberry.type
class AccountMutations:
    @strawberry.mutation(
        permission_classes=[SignedIn], description="Create an account (admin only)."
    )
    def create_account(self, info: Info, input: CreateAccountInput) -> CreateAccountPayload:
        role: DomainRole = input.role

        def work(c: Call) -> CreateAccountPayload:
            row = service.create(
                **c.acting,
                name=input.name,
                role=role,
                now=c.now,
            )
            return CreateAccountPayload(account=Account.from_row(row))

        return mutate(info, CreateAccountPayload, work)

    @strawberry.mutation(
        permission_classes=[SignedIn],
        description="Create a bearer token for an account (admin only).",
    )
    def create_api_token(self, info: Info, input: CreateApiTokenInput) -> CreateApiTokenPayload:
        def work(c: Call) -> CreateApiTokenPayload:
            row, secret = service.create_token(
                **c.acting,
                account_id=str(input.account_id),
                now=c.now,
            )
            return CreateApiTokenPayload(
                api_token=ApiToken.from_row(row), token=secret, user_errors=[]
            )

        return mutate(info, CreateApiTokenPayload, work)

    @strawberry.mutation(
        permission_classes=[SignedIn],
        description="Revoke a token: admins any token, others their own. Repeating it is a no-op.",
    )
    def revoke_api_token(self, info: Info, input: RevokeApiTokenInput) -> RevokeApiTokenPayload:
        def work(c: Call) -> RevokeApiTokenPayload:
            row = service.revoke_token(
                **c.acting,
                token_id=str(input.token_id),
                now=c.now,
            )
            return RevokeApiTokenPayload(api_token=ApiToken.from_row(row))

        return mutate(info, RevokeApiTokenPayload, work)

    @strawberry.mutation(
        permission_classes=[SignedIn],
        description="Credit an account's balance (admin only); recorded as TOP_UP.",
    )
    def top_up_account(self, info: Info, input: TopUpAccountInput) -> TopUpAccountPayload:
        def work(c: Call) -> TopUpAccountPayload:
            account, entry = settlement.top_up(
                **c.acting,
                account_id=str(input.account_id),
                amount=input.amount,
                now=c.now,
            )
            return TopUpAccountPayload(
                account=Account.from_row(account),
                transaction=Transaction.from_row(entry),
            )

        return mutate(info, TopUpAccountPayload, work)


@strawberry.input(description="Override an account's custom-image quota per region.")
class SetAccountQuotaInput:
    account_id: strawberry.ID = strawberry.field(description="Account id.")
    custom_images_per_region: int | None = strawberry.field(
        description="New quota (0-10000); null returns the account to the default."
    )


@strawberry.type(description="Result of setAccountQuota.")
class SetAccountQuotaPayload(Payload):
    account: Account | None = strawberry.field(description="The account.")


@strawberry.type
class QuotaMutations:
    @strawberry.mutation(
        permission_classes=[SignedIn],
        description="Override an account's custom-image quota per region (admin only).",
    )
    def set_account_quota(self, info: Info, input: SetAccountQuotaInput) -> SetAccountQuotaPayload:
        def work(c: Call) -> SetAccountQuotaPayload:
            row = service.set_image_quota(
                **c.acting,
                account_id=str(input.account_id),
                quota=input.custom_images_per_region,
            )
            return SetAccountQuotaPayload(account=Account.from_row(row))

        return mutate(info, SetAccountQuotaPayload, work)
