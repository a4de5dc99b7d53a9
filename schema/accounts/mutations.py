"""Account mutations: accounts, tokens and top-ups (admin actions, R82)."""

from __future__ import annotations

from decimal import Decimal

import strawberry
from sqlmodel import Session

from app.accounts import service
from app.accounts.rules import Role as DomainRole
from app.workflows import settlement
from schema.accounts.types import Account, ApiToken, Transaction
from schema.context import Info
from schema.errors import UserError, mutate
from schema.permissions import SignedIn


@strawberry.input(description="A new account.")
class CreateAccountInput:
    name: str = strawberry.field(description="Display name, 1-65 printable characters.")
    role: DomainRole = strawberry.field(description="CUSTOMER, PROVIDER or ADMIN.")


@strawberry.type(description="Result of createAccount.")
class CreateAccountPayload:
    account: Account | None = strawberry.field(description="The new account.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing was created.")


@strawberry.input(description="Which account gets a new token.")
class CreateApiTokenInput:
    account_id: strawberry.ID = strawberry.field(description="Account id (acc-...).")


@strawberry.type(description="Result of createApiToken.")
class CreateApiTokenPayload:
    api_token: ApiToken | None = strawberry.field(description="The token's record.")
    token: str | None = strawberry.field(
        description="The secret bearer token. Shown only here, once; store it safely."
    )
    user_errors: list[UserError] = strawberry.field(description="Why nothing was created.")


@strawberry.input(description="Which token to revoke.")
class RevokeApiTokenInput:
    token_id: strawberry.ID = strawberry.field(description="Token id (tok-...).")


@strawberry.type(description="Result of revokeApiToken.")
class RevokeApiTokenPayload:
    api_token: ApiToken | None = strawberry.field(description="The revoked token.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing was revoked.")


@strawberry.input(description="A credit to an account's balance.")
class TopUpAccountInput:
    account_id: strawberry.ID = strawberry.field(description="Account id (acc-...).")
    amount: Decimal = strawberry.field(description="CNY, positive, at most 2 decimals.")


@strawberry.type(description="Result of topUpAccount.")
class TopUpAccountPayload:
    account: Account | None = strawberry.field(description="The credited account.")
    transaction: Transaction | None = strawberry.field(description="The TOP_UP ledger entry.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing was credited.")


@strawberry.type
class AccountMutations:
    @strawberry.mutation(
        permission_classes=[SignedIn], description="Create an account (admin only)."
    )
    def create_account(self, info: Info, input: CreateAccountInput) -> CreateAccountPayload:
        viewer = info.context.require_viewer()
        role: DomainRole = input.role

        def action(session: Session) -> CreateAccountPayload:
            row = service.create(
                session=session,
                actor=viewer,
                name=input.name,
                role=role,
                now=info.context.clock.now(),
            )
            return CreateAccountPayload(account=Account.from_row(row), user_errors=[])

        return mutate(info, action, CreateAccountPayload)

    @strawberry.mutation(
        permission_classes=[SignedIn],
        description="Create a bearer token for an account (admin only).",
    )
    def create_api_token(self, info: Info, input: CreateApiTokenInput) -> CreateApiTokenPayload:
        viewer = info.context.require_viewer()

        def action(session: Session) -> CreateApiTokenPayload:
            row, secret = service.create_token(
                session=session,
                actor=viewer,
                account_id=str(input.account_id),
                now=info.context.clock.now(),
            )
            return CreateApiTokenPayload(
                api_token=ApiToken.from_row(row), token=secret, user_errors=[]
            )

        return mutate(info, action, CreateApiTokenPayload)

    @strawberry.mutation(
        permission_classes=[SignedIn],
        description="Revoke a token: admins any token, others their own. Repeating it is a no-op.",
    )
    def revoke_api_token(self, info: Info, input: RevokeApiTokenInput) -> RevokeApiTokenPayload:
        viewer = info.context.require_viewer()

        def action(session: Session) -> RevokeApiTokenPayload:
            row = service.revoke_token(
                session=session,
                viewer=viewer,
                token_id=str(input.token_id),
                now=info.context.clock.now(),
            )
            return RevokeApiTokenPayload(api_token=ApiToken.from_row(row), user_errors=[])

        return mutate(info, action, RevokeApiTokenPayload)

    @strawberry.mutation(
        permission_classes=[SignedIn],
        description="Credit an account's balance (admin only); recorded as TOP_UP.",
    )
    def top_up_account(self, info: Info, input: TopUpAccountInput) -> TopUpAccountPayload:
        viewer = info.context.require_viewer()

        def action(session: Session) -> TopUpAccountPayload:
            account, entry = settlement.top_up(
                session=session,
                actor=viewer,
                account_id=str(input.account_id),
                amount=input.amount,
                now=info.context.clock.now(),
            )
            return TopUpAccountPayload(
                account=Account.from_row(account),
                transaction=Transaction.from_row(entry),
                user_errors=[],
            )

        return mutate(
            info,
            action,
            TopUpAccountPayload,
        )


@strawberry.input(description="Override an account's custom-image quota per region.")
class SetAccountQuotaInput:
    account_id: strawberry.ID = strawberry.field(description="Account id.")
    custom_images_per_region: int | None = strawberry.field(
        description="New quota (0-10000); null returns the account to the default."
    )


@strawberry.type(description="Result of setAccountQuota.")
class SetAccountQuotaPayload:
    account: Account | None = strawberry.field(description="The account.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing changed.")


@strawberry.type
class QuotaMutations:
    @strawberry.mutation(
        permission_classes=[SignedIn],
        description="Override an account's custom-image quota per region (admin only).",
    )
    def set_account_quota(self, info: Info, input: SetAccountQuotaInput) -> SetAccountQuotaPayload:
        viewer = info.context.require_viewer()

        def action(session: Session) -> SetAccountQuotaPayload:
            row = service.set_image_quota(
                session=session,
                actor=viewer,
                account_id=str(input.account_id),
                quota=input.custom_images_per_region,
            )
            return SetAccountQuotaPayload(account=Account.from_row(row), user_errors=[])

        return mutate(info, action, SetAccountQuotaPayload)
