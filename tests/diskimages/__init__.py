"""Disk-image files built in code for the image-import tests.

Each public builder returns the bytes of a small image laid out after its format's on-disk
specification, so that oslo.utils' format inspector (and qemu-img) sees a real image; nothing
binary is committed and no external tool runs at test time. Virtual sizes are header fields, so
they can be huge while the bytes stay small. ``CASES`` records what
``oslo_utils.imageutils.format_inspector.detect_file_format`` and ``safety_check`` returned for
each builder (verified against oslo.utils 10.2.0, cross-checked with qemu-img 7.2).
"""

from __future__ import annotations

from collections.abc import Callable

from tests.diskimages.accepted import (
    qcow2,
    qcow2_bad_version,
    qcow2_marked_corrupt,
    qcow2_v1,
    qcow2_with_backing_file,
    qcow2_with_data_file,
    qcow2_with_unknown_feature,
    raw,
    vhd,
    vmdk_flat_descriptor,
    vmdk_monolithic_sparse,
    vmdk_stream_optimized,
    vmdk_with_slash_extent,
)
from tests.diskimages.layout import SECTOR, GiB, KiB, MiB
from tests.diskimages.refused import iso, luks, qed, vdi, vhdx

__all__ = [
    "CASES",
    "GiB",
    "KiB",
    "MiB",
    "SECTOR",
    "iso",
    "luks",
    "qcow2",
    "qcow2_bad_version",
    "qcow2_marked_corrupt",
    "qcow2_v1",
    "qcow2_with_backing_file",
    "qcow2_with_data_file",
    "qcow2_with_unknown_feature",
    "qed",
    "raw",
    "vdi",
    "vhd",
    "vhdx",
    "vmdk_flat_descriptor",
    "vmdk_monolithic_sparse",
    "vmdk_stream_optimized",
    "vmdk_with_slash_extent",
]


def _qcow2_600g() -> bytes:
    """Returns a qcow2 v3 image of 600 GiB virtual size (1200 L1 entries, still ~200 KiB)."""
    return qcow2(600 * GiB)


# Case name -> (builder, format detect_file_format names or None if it raises, passes safety_check).
CASES: dict[str, tuple[Callable[[], bytes], str | None, bool]] = {
    "qcow2": (qcow2, "qcow2", True),
    "qcow2_600g": (_qcow2_600g, "qcow2", True),
    "qcow2_with_backing_file": (qcow2_with_backing_file, "qcow2", False),
    "qcow2_with_data_file": (qcow2_with_data_file, "qcow2", False),
    "qcow2_with_unknown_feature": (qcow2_with_unknown_feature, "qcow2", False),
    "qcow2_bad_version": (qcow2_bad_version, "qcow2", False),
    "qcow2_v1": (qcow2_v1, "qcow2", False),
    "qcow2_marked_corrupt": (qcow2_marked_corrupt, "qcow2", True),
    "raw": (raw, "raw", True),
    "vmdk_stream_optimized": (vmdk_stream_optimized, "vmdk", True),
    "vmdk_monolithic_sparse": (vmdk_monolithic_sparse, "vmdk", True),
    "vmdk_flat_descriptor": (vmdk_flat_descriptor, "vmdk", False),
    "vmdk_with_slash_extent": (vmdk_with_slash_extent, "vmdk", False),
    "vhd": (vhd, "vhd", True),
    "iso": (iso, "iso", True),
    "qed": (qed, "qed", False),
    "vdi": (vdi, "vdi", True),
    "vhdx": (vhdx, "vhdx", True),
    "luks": (luks, "luks", True),
}
