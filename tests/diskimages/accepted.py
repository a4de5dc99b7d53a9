"""Builders of the formats an import accepts: qcow2 (and its unsafe variants), raw, VMDK, VHD."""

from __future__ import annotations

import struct
import uuid

from tests.diskimages.layout import SECTOR, GiB, MiB, align, ceil_div, pad, sector_count

# --- qcow2 (https://gitlab.com/qemu-project/qemu/-/blob/master/docs/interop/qcow2.txt) ---

_QCOW_MAGIC = b"QFI\xfb"
_QCOW2_CLUSTER_BITS = 16
_QCOW2_V3_HEADER_LENGTH = 104
_QCOW2_EXT_END = 0x00000000
_QCOW2_EXT_BACKING_FORMAT = 0xE2792ACA
_QCOW2_EXT_DATA_FILE = 0x44415441
_QCOW2_INCOMPAT_DATA_FILE = 1 << 2
_QCOW2_INCOMPAT_UNKNOWN = 1 << 20


def _qcow2_extension(kind: int, data: bytes) -> bytes:
    """Returns a qcow2 header extension: be32 type, be32 length, data padded to 8 bytes."""
    return struct.pack(">II", kind, len(data)) + pad(data, align(len(data), 8))


def _qcow2_image(
    virtual_size: int,
    *,
    version: int = 3,
    incompatible: int = 0,
    backing_file: str | None = None,
    extensions: bytes = b"",
) -> bytes:
    """Returns a qcow2 laid out like qemu-img's: header, refcount table, refcount block, L1."""
    cluster = 1 << _QCOW2_CLUSTER_BITS
    l1_size = ceil_div(virtual_size, cluster * (cluster // 8))  # one L2 table maps 512 MiB
    l1_clusters = max(1, ceil_div(l1_size * 8, cluster))
    refcount_table_offset, refcount_block_offset, l1_offset = cluster, 2 * cluster, 3 * cluster
    allocated_clusters = 3 + l1_clusters
    tail = extensions + _qcow2_extension(_QCOW2_EXT_END, b"")
    backing_offset = backing_size = 0
    if backing_file is not None:
        name = backing_file.encode()
        backing_offset, backing_size = _QCOW2_V3_HEADER_LENGTH + len(tail), len(name)
        tail += name
    header = struct.pack(
        ">4sIQIIQIIQQIIQQQQII",
        _QCOW_MAGIC,
        version,
        backing_offset,
        backing_size,
        _QCOW2_CLUSTER_BITS,
        virtual_size,
        0,  # crypt_method: none
        l1_size,
        l1_offset,
        refcount_table_offset,
        1,  # refcount_table_clusters
        0,  # nb_snapshots
        0,  # snapshots_offset
        incompatible,
        0,  # compatible_features
        0,  # autoclear_features
        4,  # refcount_order: 16-bit refcounts
        _QCOW2_V3_HEADER_LENGTH,
    )
    refcount_table = struct.pack(">Q", refcount_block_offset)
    refcount_block = struct.pack(f">{allocated_clusters}H", *([1] * allocated_clusters))
    return (
        pad(header + tail, cluster)
        + pad(refcount_table, cluster)
        + pad(refcount_block, cluster)
        + bytes(l1_size * 8)  # all-zero L1: nothing allocated; qemu-img leaves it unpadded too
    )


def qcow2(virtual_size: int = GiB) -> bytes:
    """Returns a qcow2 v3 image (magic QFI\\xfb, be64 size at 24, zero-filled L1 table, 16-bit refcounts); inspector: 'qcow2', safe."""
    return _qcow2_image(virtual_size)


def qcow2_with_backing_file(path: str = "/etc/passwd") -> bytes:
    """Returns a qcow2 v3 whose header names a raw backing file (be64 backing_file_offset at 8); inspector: 'qcow2', unsafe {'backing_file': 'Image has a backing file'}."""
    return _qcow2_image(
        GiB,
        backing_file=path,
        extensions=_qcow2_extension(_QCOW2_EXT_BACKING_FORMAT, b"raw"),
    )


def qcow2_with_data_file(path: str = "/etc/passwd") -> bytes:
    """Returns a qcow2 v3 with incompatible feature bit 2 (external data file, be64 at 72) and a data-file name extension; inspector: 'qcow2', unsafe {'data_file': 'Image has data_file set'}."""
    return _qcow2_image(
        GiB,
        incompatible=_QCOW2_INCOMPAT_DATA_FILE,
        extensions=_qcow2_extension(_QCOW2_EXT_DATA_FILE, path.encode()),
    )


def qcow2_marked_corrupt() -> bytes:
    """Returns a qcow2 v3 with incompatible feature bit 1 (corrupt) set, as qemu marks an image whose metadata it found inconsistent; inspector: 'qcow2', safe (the service refuses it itself)."""
    return _qcow2_image(GiB, incompatible=1 << 1)


def qcow2_with_unknown_feature() -> bytes:
    """Returns a qcow2 v3 with unknown incompatible feature bit 20 set (be64 at 72); inspector: 'qcow2', unsafe {'unknown_features': 'Unknown QCOW2 features found'}."""
    return _qcow2_image(GiB, incompatible=_QCOW2_INCOMPAT_UNKNOWN)


def qcow2_bad_version() -> bytes:
    """Returns a qcow2 v3 layout whose be32 version at 4 says 4; inspector: 'qcow2', unsafe {'unknown_features': 'Unsupported qcow2 version'}."""
    return _qcow2_image(GiB, version=4)


def qcow2_v1(virtual_size: int = GiB) -> bytes:
    """Returns a legacy qcow v1 image (same magic, version 1, be64 size at 24, L1 at 48); inspector: 'qcow2', unsafe {'unknown_features': 'Unsupported qcow2 version'}."""
    cluster_bits, l2_bits, l1_offset = 12, 9, 48
    l1_size = ceil_div(virtual_size, 1 << (cluster_bits + l2_bits))
    header = struct.pack(
        ">4sIQIIQBBHIQ",
        _QCOW_MAGIC,
        1,  # version
        0,  # backing_file_offset
        0,  # backing_file_size
        0,  # mtime
        virtual_size,
        cluster_bits,
        l2_bits,
        0,  # padding
        0,  # crypt_method
        l1_offset,
    )
    return pad(header + bytes(l1_size * 8), max(SECTOR, l1_offset + l1_size * 8))


# --- raw ---


def raw(size: int = 4 * MiB) -> bytes:
    """Returns size zero bytes, a raw disk no format inspector claims; inspector: 'raw', safe, virtual_size = bytes read (at most 256 KiB)."""
    return bytes(size)


# --- VMDK (VMware Virtual Disk Format 1.1, "Hosted Sparse Extent Header") ---

_VMDK_MAGIC = b"KDMV"
_VMDK_GRAIN_SECTORS = 128  # 64 KiB grains
_VMDK_GTES_PER_GT = 512
_VMDK_DESCRIPTOR_SECTORS = 20
_VMDK_GD_AT_END = 0xFFFFFFFFFFFFFFFF
_VMDK_FLAG_NEWLINE_TEST = 1 << 0
_VMDK_FLAG_REDUNDANT_GT = 1 << 1
_VMDK_FLAG_COMPRESSED = 1 << 16
_VMDK_FLAG_MARKERS = 1 << 17
_VMDK_COMPRESSION_DEFLATE = 1
_VMDK_MARKER_EOS = 0
_VMDK_MARKER_GD = 2
_VMDK_MARKER_FOOTER = 3


def _vmdk_header(
    *,
    version: int,
    flags: int,
    capacity: int,
    rgd_offset: int,
    gd_offset: int,
    overhead: int,
    compression: int,
) -> bytes:
    """Returns a 512-byte little-endian SparseExtentHeader with the descriptor at sector 1."""
    return pad(
        struct.pack(
            "<4sIIQQQQIQQQB4sH",
            _VMDK_MAGIC,
            version,
            flags,
            capacity,
            _VMDK_GRAIN_SECTORS,
            1,  # descriptorOffset (oslo refuses anything but sector 1)
            _VMDK_DESCRIPTOR_SECTORS,
            _VMDK_GTES_PER_GT,
            rgd_offset,
            gd_offset,
            overhead,
            0,  # uncleanShutdown
            b"\n \r\n",  # newline-detection characters
            compression,
        ),
        SECTOR,
    )


def _vmdk_descriptor(create_type: str, extent: str, capacity: int) -> bytes:
    """Returns a VMDK text descriptor with one extent line and a disk database."""
    cylinders = min(capacity // (16 * 63), 16383)
    return (
        "# Disk DescriptorFile\n"
        "version=1\n"
        "CID=5e1f2a3b\n"
        "parentCID=ffffffff\n"
        f'createType="{create_type}"\n'
        "\n"
        "# Extent description\n"
        f"{extent}\n"
        "\n"
        "# The Disk Data Base\n"
        "#DDB\n"
        "\n"
        'ddb.virtualHWVersion = "4"\n'
        f'ddb.geometry.cylinders = "{cylinders}"\n'
        'ddb.geometry.heads = "16"\n'
        'ddb.geometry.sectors = "63"\n'
        'ddb.adapterType = "ide"\n'
    ).encode("ascii")


def _vmdk_gd_sectors(capacity: int) -> int:
    """Returns the sectors of a grain directory: one 4-byte entry per 512-entry grain table."""
    grain_tables = ceil_div(capacity, _VMDK_GTES_PER_GT * _VMDK_GRAIN_SECTORS)
    return ceil_div(grain_tables * 4, SECTOR)


def _vmdk_sparse(virtual_size: int, extent_name: str) -> bytes:
    """Returns a monolithicSparse VMDK: header, descriptor, redundant GD and GD with no GT allocated."""
    capacity = sector_count(virtual_size)
    gd_sectors = _vmdk_gd_sectors(capacity)
    rgd_offset = 1 + _VMDK_DESCRIPTOR_SECTORS
    gd_offset = rgd_offset + gd_sectors
    overhead = align(gd_offset + gd_sectors, _VMDK_GRAIN_SECTORS)
    header = _vmdk_header(
        version=1,
        flags=_VMDK_FLAG_NEWLINE_TEST | _VMDK_FLAG_REDUNDANT_GT,
        capacity=capacity,
        rgd_offset=rgd_offset,
        gd_offset=gd_offset,
        overhead=overhead,
        compression=0,
    )
    extent = f'RW {capacity} SPARSE "{extent_name}"'
    descriptor = _vmdk_descriptor("monolithicSparse", extent, capacity)
    # Every grain-directory entry is 0: the grain table is unallocated, so the disk reads as zeros.
    return pad(header + pad(descriptor, _VMDK_DESCRIPTOR_SECTORS * SECTOR), overhead * SECTOR)


def _vmdk_marker(value: int, kind: int) -> bytes:
    """Returns a 512-byte streamOptimized metadata marker: le64 value, le32 size 0, le32 type."""
    return pad(struct.pack("<QII", value, 0, kind), SECTOR)


def vmdk_stream_optimized(virtual_size: int = GiB) -> bytes:
    """Returns a streamOptimized VMDK (header gdOffset = GD_AT_END; GD marker, footer marker + footer header, EOS marker at the end); inspector: 'vmdk', safe."""
    capacity = sector_count(virtual_size)
    gd_sectors = _vmdk_gd_sectors(capacity)
    overhead = _VMDK_GRAIN_SECTORS
    gd_offset = overhead + 1  # the GD follows its marker, which follows the metadata area

    def header(gd: int) -> bytes:
        return _vmdk_header(
            version=3,
            flags=_VMDK_FLAG_NEWLINE_TEST | _VMDK_FLAG_COMPRESSED | _VMDK_FLAG_MARKERS,
            capacity=capacity,
            rgd_offset=0,
            gd_offset=gd,
            overhead=overhead,
            compression=_VMDK_COMPRESSION_DEFLATE,
        )

    extent = f'RW {capacity} SPARSE "disk.vmdk"'
    descriptor = _vmdk_descriptor("streamOptimized", extent, capacity)
    metadata = pad(header(_VMDK_GD_AT_END) + descriptor, overhead * SECTOR)
    return (
        metadata
        + _vmdk_marker(gd_sectors, _VMDK_MARKER_GD)
        + bytes(gd_sectors * SECTOR)  # no grain table written: the disk is all zeros
        + _vmdk_marker(1, _VMDK_MARKER_FOOTER)
        + header(gd_offset)
        + _vmdk_marker(0, _VMDK_MARKER_EOS)
    )


def vmdk_monolithic_sparse(virtual_size: int = GiB) -> bytes:
    """Returns a monolithicSparse VMDK (KDMV header, le64 capacity in sectors at 12, descriptor at sector 1); inspector: 'vmdk', safe."""
    return _vmdk_sparse(virtual_size, "disk.vmdk")


def vmdk_flat_descriptor(path: str = "/etc/passwd") -> bytes:
    """Returns a text-only VMDK descriptor, createType "monolithicFlat", whose FLAT extent is a host path; inspector: 'vmdk', virtual_size 0, unsafe {'descriptor': 'Unsupported subformat'}."""
    return _vmdk_descriptor("monolithicFlat", f'RW 2048 FLAT "{path}" 0', 2048)


def vmdk_with_slash_extent(path: str = "/etc/passwd") -> bytes:
    """Returns a monolithicSparse VMDK whose descriptor extent file name contains '/'; inspector: 'vmdk', unsafe {'descriptor': 'Invalid extent filenames found'}."""
    return _vmdk_sparse(GiB, path)


# --- VHD (Microsoft Virtual Hard Disk Image Format Specification 1.0) ---

_VHD_BLOCK_SIZE = 2 * MiB
_VHD_NO_OFFSET = 0xFFFFFFFFFFFFFFFF
_VHD_DISK_DYNAMIC = 3
_VHD_UNIQUE_ID = uuid.UUID("6d1a3c5e-9b2f-4e71-8a40-2c7d5f3e1b09").bytes


def _vhd_checksum(data: bytes) -> int:
    """Returns the one's complement of the byte sum, the VHD footer/header checksum."""
    return ~sum(data) & 0xFFFFFFFF


def _vhd_geometry(virtual_size: int) -> tuple[int, int, int]:
    """Returns (cylinders, heads, sectors per track) by the VHD specification's CHS algorithm."""
    total = min(virtual_size // SECTOR, 65535 * 16 * 255)
    if total >= 65535 * 16 * 63:
        sectors, heads = 255, 16
        cylinder_times_heads = total // sectors
    else:
        sectors = 17
        cylinder_times_heads = total // sectors
        heads = max((cylinder_times_heads + 1023) // 1024, 4)
        if cylinder_times_heads >= heads * 1024 or heads > 16:
            sectors, heads = 31, 16
            cylinder_times_heads = total // sectors
        if cylinder_times_heads >= heads * 1024:
            sectors, heads = 63, 16
            cylinder_times_heads = total // sectors
    return cylinder_times_heads // heads, heads, sectors


def _vhd_footer(virtual_size: int) -> bytes:
    """Returns a 512-byte big-endian dynamic-disk footer; the dynamic header follows at 512."""
    cylinders, heads, sectors = _vhd_geometry(virtual_size)

    def footer(checksum: int) -> bytes:
        return pad(
            struct.pack(
                ">8sIIQI4sI4sQQHBBII16sB",
                b"conectix",
                2,  # features: reserved bit, always set
                0x00010000,  # file format version 1.0
                SECTOR,  # data offset: the dynamic disk header
                0,  # timestamp: 2000-01-01T00:00:00Z
                b"qem2",  # creator app: readers take current_size, not the CHS product
                0x00050003,
                b"Wi2k",
                virtual_size,  # original size
                virtual_size,  # current size
                cylinders,
                heads,
                sectors,
                _VHD_DISK_DYNAMIC,
                checksum,
                _VHD_UNIQUE_ID,
                0,  # saved state
            ),
            SECTOR,
        )

    return footer(_vhd_checksum(footer(0)))


def vhd(virtual_size: int = GiB) -> bytes:
    """Returns a dynamic VHD ("conectix" footer copy at 0 with be64 size at 40, "cxsparse" header, empty BAT, footer at the end); inspector: 'vhd', safe."""
    sector_count(virtual_size)
    entries = ceil_div(virtual_size, _VHD_BLOCK_SIZE)
    bat_offset = 3 * SECTOR

    def dynamic_header(checksum: int) -> bytes:
        return pad(
            struct.pack(
                ">8sQQIIII",
                b"cxsparse",
                _VHD_NO_OFFSET,  # data offset: unused
                bat_offset,
                0x00010000,  # header version 1.0
                entries,
                _VHD_BLOCK_SIZE,
                checksum,
            ),
            2 * SECTOR,
        )

    footer = _vhd_footer(virtual_size)
    bat = pad(b"\xff" * (entries * 4), align(entries * 4, SECTOR))  # every block unallocated
    return footer + dynamic_header(_vhd_checksum(dynamic_header(0))) + bat + footer
