"""The limits and durations the services apply, in one small object built from settings.

Resolvers hand services a Policy instead of individual settings, so what a rule needs is
named once (and tests build the Policy they want).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal
from typing import TYPE_CHECKING

from app.money import to_minor

if TYPE_CHECKING:
    from app.config import Settings


@dataclass(frozen=True)
class Policy:
    """Quotas, the postpaid minimum balance, and how long simulated operations take."""

    operation_seconds: float = 5.0
    operation_seconds_per_gb: float = 0.1
    custom_image_quota: int = 20
    share_quota_per_image: int = 50
    shared_with_me_quota: int = 20
    storage_quota_bytes: int = 100 * 1024**3
    postpaid_minimum_balance: Decimal = Decimal("100")
    recycle_bin_days: float = 7.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        """The policy the settings describe (each field is the setting of the same name)."""
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})

    def duration(self, size_gb: int | None) -> float:
        """A simulated operation's length: a base plus a part per GB of disk (R61)."""
        return self.operation_seconds + self.operation_seconds_per_gb * (size_gb or 0)

    @property
    def postpaid_minimum_minor(self) -> int:
        """The balance a postpaid purchase needs, in fen (R73)."""
        return to_minor(self.postpaid_minimum_balance)
