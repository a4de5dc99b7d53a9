"""Disk-image files built in code for the image-import tests.

Each public builder returns the bytes of a small image laid out after its format's on-disk
specification, so that oslo.utils' format inspector (and qemu-img) sees a real image; nothing
binary is committed and no external tool runs at test time. Virtual sizes are header fields, so
they can be huge while the bytes stay small. ``CASES`` records what
``oslo_utils.imageutils.format_inspector.detect_file_format`` and ``safety_check`` returned for
each builder (verified against oslo.utils 10.2.0, cross-checked with qemu-img 7.2).
"""

from __future__ import annotations

import hashlib
import struct
import uuid
from collections.abc import Callable

SECTOR = 512
KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30


def _ceil_div(a: int, b: int) -> int:
    """Returns a / b rounded up."""
    return -(-a // b)


def _align(n: int, alignment: int) -> int:
    """Returns n rounded up to a multiple of alignment."""
    return _ceil_div(n, alignment) * alignment


def _pad(data: bytes, size: int) -> bytes:
    """Returns data zero-padded to exactly size bytes."""
    if len(data) > size:
        raise ValueError(f"{len(data)} bytes do not fit in {size}")
    return data + bytes(size - len(data))


def _sectors(virtual_size: int) -> int:
    """Returns virtual_size in 512-byte sectors, refusing sizes that are not whole sectors."""
    if virtual_size <= 0 or virtual_size % SECTOR:
        raise ValueError(f"virtual size {virtual_size} is not a positive multiple of {SECTOR}")
    return virtual_size // SECTOR


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
    return struct.pack(">II", kind, len(data)) + _pad(data, _align(len(data), 8))


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
    l1_size = _ceil_div(virtual_size, cluster * (cluster // 8))  # one L2 table maps 512 MiB
    l1_clusters = max(1, _ceil_div(l1_size * 8, cluster))
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
        _pad(header + tail, cluster)
        + _pad(refcount_table, cluster)
        + _pad(refcount_block, cluster)
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


def qcow2_with_unknown_feature() -> bytes:
    """Returns a qcow2 v3 with unknown incompatible feature bit 20 set (be64 at 72); inspector: 'qcow2', unsafe {'unknown_features': 'Unknown QCOW2 features found'}."""
    return _qcow2_image(GiB, incompatible=_QCOW2_INCOMPAT_UNKNOWN)


def qcow2_bad_version() -> bytes:
    """Returns a qcow2 v3 layout whose be32 version at 4 says 4; inspector: 'qcow2', unsafe {'unknown_features': 'Unsupported qcow2 version'}."""
    return _qcow2_image(GiB, version=4)


def qcow2_v1(virtual_size: int = GiB) -> bytes:
    """Returns a legacy qcow v1 image (same magic, version 1, be64 size at 24, L1 at 48); inspector: 'qcow2', unsafe {'unknown_features': 'Unsupported qcow2 version'}."""
    cluster_bits, l2_bits, l1_offset = 12, 9, 48
    l1_size = _ceil_div(virtual_size, 1 << (cluster_bits + l2_bits))
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
    return _pad(header + bytes(l1_size * 8), max(SECTOR, l1_offset + l1_size * 8))


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
    return _pad(
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
    grain_tables = _ceil_div(capacity, _VMDK_GTES_PER_GT * _VMDK_GRAIN_SECTORS)
    return _ceil_div(grain_tables * 4, SECTOR)


def _vmdk_sparse(virtual_size: int, extent_name: str) -> bytes:
    """Returns a monolithicSparse VMDK: header, descriptor, redundant GD and GD with no GT allocated."""
    capacity = _sectors(virtual_size)
    gd_sectors = _vmdk_gd_sectors(capacity)
    rgd_offset = 1 + _VMDK_DESCRIPTOR_SECTORS
    gd_offset = rgd_offset + gd_sectors
    overhead = _align(gd_offset + gd_sectors, _VMDK_GRAIN_SECTORS)
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
    return _pad(header + _pad(descriptor, _VMDK_DESCRIPTOR_SECTORS * SECTOR), overhead * SECTOR)


def _vmdk_marker(value: int, kind: int) -> bytes:
    """Returns a 512-byte streamOptimized metadata marker: le64 value, le32 size 0, le32 type."""
    return _pad(struct.pack("<QII", value, 0, kind), SECTOR)


def vmdk_stream_optimized(virtual_size: int = GiB) -> bytes:
    """Returns a streamOptimized VMDK (header gdOffset = GD_AT_END; GD marker, footer marker + footer header, EOS marker at the end); inspector: 'vmdk', safe."""
    capacity = _sectors(virtual_size)
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
    metadata = _pad(header(_VMDK_GD_AT_END) + descriptor, overhead * SECTOR)
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
        return _pad(
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
    _sectors(virtual_size)
    entries = _ceil_div(virtual_size, _VHD_BLOCK_SIZE)
    bat_offset = 3 * SECTOR

    def dynamic_header(checksum: int) -> bytes:
        return _pad(
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
    bat = _pad(b"\xff" * (entries * 4), _align(entries * 4, SECTOR))  # every block unallocated
    return footer + dynamic_header(_vhd_checksum(dynamic_header(0))) + bat + footer


# --- ISO 9660 (ECMA-119) ---

_ISO_BLOCK = 2048
_ISO_PVD_BLOCK = 16  # after the 32 KiB system area; the terminator follows at 17
_ISO_L_PATH_BLOCK, _ISO_M_PATH_BLOCK, _ISO_ROOT_BLOCK = 18, 19, 20
_ISO_BLOCKS = 21


def _both16(value: int) -> bytes:
    """Returns an ISO 9660 both-byte-order 16-bit field."""
    return struct.pack("<H", value) + struct.pack(">H", value)


def _both32(value: int) -> bytes:
    """Returns an ISO 9660 both-byte-order 32-bit field."""
    return struct.pack("<I", value) + struct.pack(">I", value)


def _iso_directory_record(identifier: bytes) -> bytes:
    """Returns a 34-byte directory record of the root directory ('.' or '..')."""
    return (
        struct.pack("<BB", 34, 0)
        + _both32(_ISO_ROOT_BLOCK)
        + _both32(_ISO_BLOCK)
        + bytes([124, 1, 1, 0, 0, 0, 0])  # recorded 2024-01-01T00:00:00Z
        + struct.pack("<BBB", 0x02, 0, 0)  # flags: directory
        + _both16(1)  # volume sequence number
        + struct.pack("<B", len(identifier))
        + identifier
    )


def _iso_text(text: str, size: int) -> bytes:
    """Returns a space-padded ISO 9660 a/d-characters field."""
    return text.encode("ascii").ljust(size, b" ")


def iso() -> bytes:
    """Returns an ISO 9660 image (primary volume descriptor type 1 "CD001" at 32 KiB, terminator, path tables, root directory); inspector: 'iso', safe, virtual_size 43008 (21 blocks of 2048)."""
    date = b"2024010100000000\x00"
    no_date = b"0000000000000000\x00"
    pvd = (
        b"\x01CD001\x01\x00"
        + _iso_text("LINUX", 32)  # system identifier
        + _iso_text("BCC_TEST", 32)  # volume identifier
        + bytes(8)
        + _both32(_ISO_BLOCKS)  # volume space size (at 80)
        + bytes(32)
        + _both16(1)  # volume set size
        + _both16(1)  # volume sequence number
        + _both16(_ISO_BLOCK)  # logical block size (at 128)
        + _both32(10)  # path table size: just the root
        + struct.pack("<II", _ISO_L_PATH_BLOCK, 0)
        + struct.pack(">II", _ISO_M_PATH_BLOCK, 0)
        + _iso_directory_record(b"\x00")  # root directory record (at 156)
        + _iso_text("", 128 * 4)  # volume set, publisher, preparer, application identifiers
        + _iso_text("", 37 * 3)  # copyright, abstract, bibliographic file identifiers
        + date
        + date
        + no_date
        + no_date
        + b"\x01\x00"  # file structure version
    )
    terminator = b"\xffCD001\x01"
    path_entry = b"\x01\x00%s%s\x00\x00"
    l_path = path_entry % (struct.pack("<I", _ISO_ROOT_BLOCK), struct.pack("<H", 1))
    m_path = path_entry % (struct.pack(">I", _ISO_ROOT_BLOCK), struct.pack(">H", 1))
    root = _iso_directory_record(b"\x00") + _iso_directory_record(b"\x01")
    return (
        bytes(_ISO_PVD_BLOCK * _ISO_BLOCK)  # system area
        + b"".join(_pad(b, _ISO_BLOCK) for b in (pvd, terminator, l_path, m_path, root))
    )


# --- QED (https://wiki.qemu.org/Features/QED/Specification) ---


def qed(virtual_size: int = GiB) -> bytes:
    """Returns a QED image ("QED\\0" magic, le64 image_size at 48, 64 KiB clusters, empty 4-cluster L1 as qemu-img makes); inspector: 'qed', virtual_size = bytes read (262144), unsafe {'banned': 'This file format is not allowed'}."""
    _sectors(virtual_size)
    cluster = 64 * KiB
    header = struct.pack(
        "<4sIIIQQQQQII",
        b"QED\x00",
        cluster,
        4,  # table_size in clusters (qemu refuses 1: its table end check sees an overflow)
        1,  # header_size in clusters
        0,  # features
        0,  # compat_features
        0,  # autoclear_features
        cluster,  # l1_table_offset
        virtual_size,
        0,  # backing_filename_offset
        0,  # backing_filename_size
    )
    return _pad(header, cluster) + bytes(4 * cluster)  # empty L1 table


# --- VDI (VirtualBox; qemu block/vdi.c) ---

_VDI_BLOCK_SIZE = MiB
_VDI_UNALLOCATED = 0xFFFFFFFF


def vdi(virtual_size: int = GiB) -> bytes:
    """Returns a dynamic VDI (le32 signature 0xbeda107f at 0x40, version 1.1, le64 disk size at 0x170, unallocated block map); inspector: 'vdi', safe."""
    _sectors(virtual_size)
    blocks = _ceil_div(virtual_size, _VDI_BLOCK_SIZE)
    bmap_offset = SECTOR
    bmap_size = _align(blocks * 4, SECTOR)
    header = _pad(b"<<< Oracle VM VirtualBox Disk Image >>>\n", 64) + struct.pack(
        "<IIIII256sIIIIIIIQIIII16s16s16s16s",
        0xBEDA107F,
        0x00010001,  # version 1.1
        0x190,  # header size after the pre-header
        1,  # image type: dynamic
        0,  # image flags
        b"",  # description
        bmap_offset,
        bmap_offset + bmap_size,  # data offset
        0,  # legacy geometry: cylinders
        0,  # heads
        0,  # sectors
        SECTOR,
        0,  # unused
        virtual_size,
        _VDI_BLOCK_SIZE,
        0,  # block extra data
        blocks,
        0,  # blocks allocated
        uuid.UUID("0b4d7f1e-3c2a-4e5f-9a8b-7c6d5e4f3a21").bytes,  # image
        uuid.UUID("1c5e802f-4d3b-4f60-8b9c-8d7e6f5a4b32").bytes,  # last snapshot
        bytes(16),  # link: none
        bytes(16),  # parent: none
    )
    block_map = struct.pack(f"<{blocks}I", *([_VDI_UNALLOCATED] * blocks))
    return _pad(header, bmap_offset) + _pad(block_map, bmap_size)


# --- VHDX (MS-VHDX 2.x) ---

_VHDX_BLOCK_SIZE = 32 * MiB
_VHDX_LOGICAL_SECTOR = 512
_VHDX_REGION_BAT = "2DC27766-F623-4200-9D64-115E9BFD4A08"
_VHDX_REGION_METADATA = "8B7CA206-4790-4B9A-B8FE-575F050F886E"
_VHDX_FILE_PARAMETERS = "CAA16737-FA36-4D43-B3B6-33F0AA44E76B"
_VHDX_VIRTUAL_DISK_SIZE = "2FA54224-CD1B-4876-B211-5DBED83BF4B8"
_VHDX_PAGE83_DATA = "BECA12AB-B2E6-4523-93EF-C309E000C746"
_VHDX_LOGICAL_SECTOR_SIZE = "8141BF1D-A96F-4709-BA47-F233A8FAAB5F"
_VHDX_PHYSICAL_SECTOR_SIZE = "CDA348C7-445D-4471-9CC9-E9885251C556"
_VHDX_META_IS_VIRTUAL_DISK = 1 << 1
_VHDX_META_IS_REQUIRED = 1 << 2


def _crc32c_table() -> tuple[int, ...]:
    """Returns the byte table of CRC-32C (Castagnoli, reflected polynomial 0x82F63B78)."""
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE = _crc32c_table()


def _crc32c(data: bytes) -> int:
    """Returns the CRC-32C of data, the VHDX header and region-table checksum."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _guid(text: str) -> bytes:
    """Returns a GUID in the on-disk Microsoft layout (first three fields little-endian)."""
    return uuid.UUID(text).bytes_le


def _with_crc32c(build: Callable[[int], bytes]) -> bytes:
    """Returns build(checksum) where checksum is the CRC-32C of build(0)."""
    return build(_crc32c(build(0)))


def vhdx(virtual_size: int = GiB) -> bytes:
    """Returns a VHDX ("vhdxfile" identifier, two CRC-32C headers, two "regi" region tables, "metadata" table holding Virtual Disk Size, empty BAT); inspector: 'vhdx', safe."""
    _sectors(virtual_size)
    log_offset, metadata_offset, bat_offset = 1 * MiB, 2 * MiB, 3 * MiB
    data_blocks = _ceil_div(virtual_size, _VHDX_BLOCK_SIZE)
    chunk_ratio = (1 << 23) * _VHDX_LOGICAL_SECTOR // _VHDX_BLOCK_SIZE
    bat_entries = data_blocks + (data_blocks - 1) // chunk_ratio
    bat_length = _align(bat_entries * 8, MiB)

    identifier = _pad(b"vhdxfile" + "bcc-images tests".encode("utf-16-le"), 64 * KiB)

    def header(sequence: int) -> bytes:
        def build(checksum: int) -> bytes:
            return _pad(
                struct.pack(
                    "<4sIQ16s16s16sHHIQ",
                    b"head",
                    checksum,
                    sequence,
                    _guid("3F2504E0-4F89-41D3-9A0C-0305E82C3301"),  # file write GUID
                    _guid("21EC2020-3AEA-4069-A2DD-08002B30309D"),  # data write GUID
                    bytes(16),  # log GUID: none, nothing to replay
                    0,  # log version
                    1,  # version
                    MiB,  # log length
                    log_offset,
                ),
                4 * KiB,
            )

        return _pad(_with_crc32c(build), 64 * KiB)

    def region_table(checksum: int) -> bytes:
        entries = struct.pack(
            "<16sQII", _guid(_VHDX_REGION_BAT), bat_offset, bat_length, 1
        ) + struct.pack("<16sQII", _guid(_VHDX_REGION_METADATA), metadata_offset, MiB, 1)
        return _pad(struct.pack("<4sIII", b"regi", checksum, 2, 0) + entries, 64 * KiB)

    disk_item = _VHDX_META_IS_VIRTUAL_DISK | _VHDX_META_IS_REQUIRED
    items = (
        (_VHDX_FILE_PARAMETERS, struct.pack("<II", _VHDX_BLOCK_SIZE, 0), _VHDX_META_IS_REQUIRED),
        (_VHDX_VIRTUAL_DISK_SIZE, struct.pack("<Q", virtual_size), disk_item),
        (_VHDX_PAGE83_DATA, _guid("9D4F7C62-1A3B-4C5D-8E6F-7A8B9C0D1E2F"), disk_item),
        (_VHDX_LOGICAL_SECTOR_SIZE, struct.pack("<I", _VHDX_LOGICAL_SECTOR), disk_item),
        (_VHDX_PHYSICAL_SECTOR_SIZE, struct.pack("<I", 4096), disk_item),
    )
    table = struct.pack("<8sHH20x", b"metadata", 0, len(items))
    data = b""
    for guid, value, flags in items:
        offset = 64 * KiB + len(data)  # item data lives past the 64 KiB table
        table += struct.pack("<16sIII4x", _guid(guid), offset, len(value), flags)
        data += value
    metadata = _pad(_pad(table, 64 * KiB) + data, MiB)

    region_tables = _with_crc32c(region_table)
    return (
        identifier
        + header(1)
        + header(2)
        + region_tables
        + region_tables
        + bytes(log_offset - 320 * KiB)  # reserved up to the log
        + bytes(MiB)  # log: empty, the log GUID is zero
        + metadata
        + bytes(bat_length)  # BAT: every payload block PAYLOAD_BLOCK_NOT_PRESENT
    )


# --- LUKS v1 (LUKS On-Disk Format Specification 1.2.3) ---

_LUKS_KEY_DISABLED = 0x0000DEAD
_LUKS_STRIPES = 4000
_LUKS_KEY_BYTES = 32
_LUKS_PAYLOAD_SECTORS = 4096


def luks() -> bytes:
    """Returns a LUKS1 header ("LUKS\\xba\\xbe", be16 version 1, aes-xts-plain64, sha256, all 8 key slots disabled, payload at sector 4096); inspector: 'luks', safe without a passphrase, virtual_size = bytes read - 2 MiB (-1835008)."""
    master_key = bytes(range(_LUKS_KEY_BYTES))
    digest_salt = hashlib.sha256(b"bcc-images luks digest salt").digest()
    digest_iterations = 1000
    digest = hashlib.pbkdf2_hmac("sha256", master_key, digest_salt, digest_iterations, 20)
    material_sectors = _align(_ceil_div(_LUKS_KEY_BYTES * _LUKS_STRIPES, SECTOR), 8)
    slots = b"".join(
        struct.pack(
            ">II32sII", _LUKS_KEY_DISABLED, 0, bytes(32), 8 + i * material_sectors, _LUKS_STRIPES
        )
        for i in range(8)
    )
    header = (
        struct.pack(
            ">6sH32s32s32sII20s32sI40s",
            b"LUKS\xba\xbe",
            1,
            b"aes",
            b"xts-plain64",
            b"sha256",
            _LUKS_PAYLOAD_SECTORS,
            _LUKS_KEY_BYTES,
            digest,
            digest_salt,
            digest_iterations,
            b"6a0f3c1e-2b4d-4e8f-9a7c-5d3e1f0b2a46",
        )
        + slots
    )
    return _pad(header, (_LUKS_PAYLOAD_SECTORS + 1) * SECTOR)  # one payload sector


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
