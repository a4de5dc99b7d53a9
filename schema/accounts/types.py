"""Account, Transaction and API token types."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

import schema.enums  # noqa: F401  (registers the domain enums)
from app.accounts import models
from app.billing import service as billing_service
from app.billing.models import LedgerEntry
from app.billing.rules import TransactionKind
from app.images.rules import ShareAcceptance
from app.platform.viewer import Role as DomainRole
from schema.context import Info
from schema.money import Money
from schema.node import Node
from schema.pagination import Connection, Window, child_connection, connection, page_request, paged
from schema.permissions import OwnerOnly

if TYPE_CHECKING:
    from schema.billing.types import Order
    from schema.marketplace.types import ProviderView


@strawberry.type(description="One entry of an account's append-only ledger.")
class Transaction:
    id: strawberry.ID = strawberry.field(description="Transaction id.")
    kind: TransactionKind = strawberry.field(description="What moved the balance.")
    amount: Money = strawberry.field(
        description="Signed amount: credits positive, debits negative."
    )
    balance_after: Money = strawberry.field(description="Balance right after this entry.")
    reference: strawberry.ID | None = strawberry.field(
        description="What it is for (order, instance or top-up id)."
    )
    created_at: datetime = strawberry.field(description="When it was recorded (UTC).")

    @classmethod
    def from_row(cls, row: LedgerEntry) -> Transaction:
        """Build from a ledger row."""
        return cls(
            id=strawberry.ID(row.id),
            kind=TransactionKind(row.kind),
            amount=Money.of_minor(row.amount_minor),
            balance_after=Money.of_minor(row.balance_after_minor),
            reference=strawberry.ID(row.reference) if row.reference else None,
            created_at=row.created_at,
        )


@strawberry.type(description="A tenant of the cloud.")
class Account(Node):
    name: str = strawberry.field(description="Display name.")
    role: DomainRole = strawberry.field(description="CUSTOMER, PROVIDER or ADMIN.")
    created_at: datetime = strawberry.field(description="When the account was created (UTC).")
    balance_minor: strawberry.Private[int]
    arrears: strawberry.Private[bool]
    quota: strawberry.Private[int | None]
    arrears_began: strawberry.Private[datetime | None] = None
    share_mode: strawberry.Private[str] = "AUTOMATIC"

    @property
    def owner_id(self) -> str:
        """An account is its own owner (for the OwnerOnly gate of its private fields)."""
        return str(self.id)

    @strawberry.field(
        permission_classes=[OwnerOnly], description="Current balance (self and admins only)."
    )
    def balance(self, info: Info) -> Money:
        return Money.of_minor(self.balance_minor)

    @strawberry.field(
        permission_classes=[OwnerOnly],
        description="Whether the balance is below zero (self and admins): postpaid instances "
        "stop, accrue nothing and, past the grace period, are released.",
    )
    def in_arrears(self, info: Info) -> bool:
        return self.arrears

    @strawberry.field(
        permission_classes=[OwnerOnly],
        description="Since when the balance has been below zero (the grace period before "
        "the instances arrears stopped are released counts from here); null when it is not "
        "(self and admins).",
    )
    def arrears_since(self, info: Info) -> datetime | None:
        return self.arrears_began

    @strawberry.field(
        permission_classes=[OwnerOnly],
        description="How the account takes new shares of other accounts' images: AUTOMATIC "
        "or MANUAL (as invitations to accept); see setShareAcceptance (self and admins).",
    )
    def share_acceptance(self, info: Info) -> ShareAcceptance:
        return ShareAcceptance(self.share_mode)

    transactions: Connection[Transaction] = child_connection(
        Transaction,
        lambda account, info, page: billing_service.list_transactions(
            session=info.context.session, account_id=str(account.id), page=page
        ),
        Transaction.from_row,
        parent=lambda account: str(account.id),
        description="The account's ledger, newest first (self and admins only).",
        permission_classes=[OwnerOnly],
    )

    @strawberry.field(
        permission_classes=[OwnerOnly],
        description="Custom images allowed per region (yourself and admins only).",
    )
    def custom_image_quota(self, info: Info) -> int:
        return (
            self.quota
            if self.quota is not None
            else info.context.services.policy.custom_image_quota
        )

    @paged(
        permission_classes=[OwnerOnly],
        description="The account's orders, newest first (self and admins only).",
    )
    def orders(
        self,
        info: Info,
        window: Window = Window(),
    ) -> Connection[Annotated[Order, strawberry.lazy("schema.billing.types")]]:
        from schema.billing.types import Order

        page = billing_service.list_orders(
            session=info.context.session,
            account_id=str(self.id),
            page=page_request(info, window, parent=str(self.id)),
        )
        return connection(page, Order.from_row)

    @strawberry.field(
        permission_classes=[OwnerOnly],
        description="For PROVIDER accounts (self and admins): listings, sales and revenue.",
    )
    def provider(
        self, info: Info
    ) -> Annotated[ProviderView, strawberry.lazy("schema.marketplace.types")] | None:
        from schema.marketplace.types import ProviderView

        if self.role is not DomainRole.PROVIDER:
            return None
        return ProviderView(account_id=str(self.id))

    @classmethod
    def from_row(cls, row: models.Account) -> Account:
        """Build from an account row."""
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            role=DomainRole(row.role),
            created_at=row.created_at,
            balance_minor=row.balance_minor,
            arrears=row.in_arrears,
            arrears_began=row.arrears_since,
            quota=row.custom_image_quota,
            share_mode=row.share_acceptance,
        )


@strawberry.type(description="An API token; the secret is shown only once, when it is created.")
class ApiToken:
    id: strawberry.ID = strawberry.field(description="Token id (use it to revoke the token).")
    account_id: strawberry.ID = strawberry.field(description="The account it authenticates as.")
    created_at: datetime = strawberry.field(description="When it was created (UTC).")
    revoked_at: datetime | None = strawberry.field(description="When it was revoked, if it was.")

    @classmethod
    def from_row(cls, row: models.ApiToken) -> ApiToken:
        """Build from a token row (never includes the secret)."""
        return cls(
            id=strawberry.ID(row.id),
            account_id=strawberry.ID(row.account_id),
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )
