"""Every kind of operation and what advances it, registered in one place."""

from __future__ import annotations

from app.operations.rules import OperationKind
from app.operations.service import Handler
from app.storage.store import ObjectStore
from app.workflows import capture, copying, importing, launch, rebuild


def operation_handlers(store: ObjectStore) -> dict[str, Handler]:
    """The handler of each operation kind (a worker refuses kinds missing here, loudly)."""
    return {
        OperationKind.CREATE_IMAGE.value: capture.CreateImageHandler(),
        OperationKind.CREATE_SNAPSHOT.value: capture.CreateSnapshotHandler(),
        OperationKind.COPY_IMAGE.value: copying.CopyImageHandler(),
        OperationKind.IMPORT_IMAGE.value: importing.ImportHandler(store),
        OperationKind.REBUILD_INSTANCE.value: rebuild.RebuildHandler(),
        OperationKind.CREATE_INSTANCES.value: launch.CreateInstancesHandler(),
    }
