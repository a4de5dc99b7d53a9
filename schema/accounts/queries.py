"""Account queries."""

from __future__ import annotations

import strawberry

from schema.accounts.types import Account
from schema.context import Info


@strawberry.type
class AccountQueries:
    @strawberry.field(description="The authenticated account; null when anonymous.")
    async def viewer(self, info: Info) -> Account | None:
        viewer = info.context.viewer
        if viewer is None:
            return None
        row = await info.context.loaders.account.load(viewer.account_id)
        return Account.from_row(row) if row else None
