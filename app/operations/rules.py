"""Operation kinds and states (R60)."""

from __future__ import annotations

import enum


class OperationKind(enum.Enum):
    """What a long-running job does."""

    CREATE_IMAGE = "CREATE_IMAGE"
    IMPORT_IMAGE = "IMPORT_IMAGE"
    COPY_IMAGE = "COPY_IMAGE"
    CREATE_SNAPSHOT = "CREATE_SNAPSHOT"
    REBUILD_INSTANCE = "REBUILD_INSTANCE"
    CREATE_INSTANCES = "CREATE_INSTANCES"


class OperationStatus(enum.Enum):
    """Where a job is."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
