"""Billing vocabulary (pure)."""

from __future__ import annotations

import enum


class OrderKind(enum.Enum):
    """What an order paid for."""

    NEW_INSTANCES = "NEW_INSTANCES"
    REBUILD = "REBUILD"
