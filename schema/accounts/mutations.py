"""Account mutations: accounts, tokens and top-ups (admin actions, R82)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import strawberry

from app.accounts import service
from app.platform.viewer import Role as DomainRole
from app.workflows import settlement
from schema.accounts.types import Account, ApiToken, Transaction
from schema.context import Info
from schema.errors import Call, Payload, mutate
from schema.mutation import argument, mutation


@strawberry.type(description="An account after a change.")
class AccountResult(Payload):
    account: Account | None = strawberry.field(description="The account as it is now.")


@strawberry.type(description="Result of topUpAccount.")
class TopUpAccountPayload(AccountResult):
    transaction: Transaction | None = strawberry.field(description="The TOP_UP ledger entry.")


@strawberry.type(description="A token after a change.")
class TokenResult(Payload):
    api_token: ApiToken | None = strawberry.field(description="The token's record.")


@strawberry.type(description="Result of createApiToken.")
class CreateApiTokenPayload(TokenResult):
    token: str | None = strawberry.field(
        description="The secret bearer token. Shown only here, once; store it safely."
    )


AccountId = Annotated[strawberry.ID, argument("Account id (acc-...).")]


@strawberry.type
class AccountMutations:
    @mutation("Create an account (admin only).", input="A new account.")
    def create_account(
        self,
        info: Info,
        name: Annotated[str, argument("Display name, 1-65 printable characters.")],
        role: Annotated[DomainRole, argument("CUSTOMER, PROVIDER or ADMIN.")],
    ) -> AccountResult:
        return mutate(
            info,
            AccountResult,
            lambda c: AccountResult(
                account=Account.from_row(
                    service.create(**c.acting, name=name, role=role, now=c.now)
                )
            ),
        )

    @mutation(
        "Create a bearer token for an account (admin only).",
        input="Which account gets a new token.",
    )
    def create_api_token(self, info: Info, account_id: AccountId) -> CreateApiTokenPayload:
        def work(c: Call) -> CreateApiTokenPayload:
            row, secret = service.create_token(**c.acting, account_id=str(account_id), now=c.now)
            return CreateApiTokenPayload(api_token=ApiToken.from_row(row), token=secret)

        return mutate(info, CreateApiTokenPayload, work)

    @mutation(
        "Revoke a token: admins any token, others their own. Repeating it is a no-op.",
        input="Which token to revoke.",
    )
    def revoke_api_token(
        self, info: Info, token_id: Annotated[strawberry.ID, argument("Token id (tok-...).")]
    ) -> TokenResult:
        def work(c: Call) -> TokenResult:
            row = service.revoke_token(**c.acting, token_id=str(token_id), now=c.now)
            return TokenResult(api_token=ApiToken.from_row(row))

        return mutate(info, TokenResult, work)

    @mutation(
        "Credit an account's balance (admin only); recorded as TOP_UP.",
        input="A credit to an account's balance.",
    )
    def top_up_account(
        self,
        info: Info,
        account_id: AccountId,
        amount: Annotated[Decimal, argument("CNY, positive, at most 2 decimals.")],
    ) -> TopUpAccountPayload:
        def work(c: Call) -> TopUpAccountPayload:
            account, entry = settlement.top_up(
                **c.acting, account_id=str(account_id), amount=amount, now=c.now
            )
            return TopUpAccountPayload(
                account=Account.from_row(account), transaction=Transaction.from_row(entry)
            )

        return mutate(info, TopUpAccountPayload, work)


@strawberry.type
class QuotaMutations:
    @mutation(
        "Override an account's custom-image quota per region (admin only).",
        input="Override an account's custom-image quota per region.",
    )
    def set_account_quota(
        self,
        info: Info,
        account_id: AccountId,
        custom_images_per_region: Annotated[
            int | None, argument("New quota (0-10000); null returns the account to the default.")
        ],
    ) -> AccountResult:
        def work(c: Call) -> AccountResult:
            row = service.set_image_quota(
                **c.acting, account_id=str(account_id), quota=custom_images_per_region
            )
            return AccountResult(account=Account.from_row(row))

        return mutate(info, AccountResult, work)
