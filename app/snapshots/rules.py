"""Snapshot states (R55)."""

from __future__ import annotations

import enum


class SnapshotStatus(enum.Enum):
    """Snapshot states."""

    CREATING = "CREATING"
    AVAILABLE = "AVAILABLE"
    CREATE_FAILED = "CREATE_FAILED"
