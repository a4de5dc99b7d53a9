"""Who sees which listing (R69), as one SQL predicate shared by every read."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, true
from sqlmodel import col

from app.accounts.rules import Role, Viewer
from app.marketplace.models import Listing
from app.marketplace.rules import ListingStatus


def listing_visible(viewer: Viewer | None) -> ColumnElement[bool]:
    """Everyone sees PUBLISHED listings, providers their own in every state, admins all."""
    if viewer is not None and viewer.is_admin:
        return true()
    published = col(Listing.status) == ListingStatus.PUBLISHED.value
    if viewer is not None and viewer.role is Role.PROVIDER:
        return or_(published, col(Listing.provider_id) == viewer.account_id)
    return published
