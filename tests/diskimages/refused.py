"""Builders of formats an import refuses as unsupported: ISO 9660, QED, VDI, VHDX, LUKS."""

from __future__ import annotations

import hashlib
import struct
import uuid
from collections.abc import Callable

from tests.diskimages.layout import SECTOR, GiB, KiB, MiB, align, ceil_div, pad, sector_count

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
        + b"".join(pad(b, _ISO_BLOCK) for b in (pvd, terminator, l_path, m_path, root))
    )


# --- QED (https://wiki.qemu.org/Features/QED/Specification) ---


def qed(virtual_size: int = GiB) -> bytes:
    """Returns a QED image ("QED\\0" magic, le64 image_size at 48, 64 KiB clusters, empty 4-cluster L1 as qemu-img makes); inspector: 'qed', virtual_size = bytes read (262144), unsafe {'banned': 'This file format is not allowed'}."""
    sector_count(virtual_size)
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
    return pad(header, cluster) + bytes(4 * cluster)  # empty L1 table


# --- VDI (VirtualBox; qemu block/vdi.c) ---

_VDI_BLOCK_SIZE = MiB
_VDI_UNALLOCATED = 0xFFFFFFFF


def vdi(virtual_size: int = GiB) -> bytes:
    """Returns a dynamic VDI (le32 signature 0xbeda107f at 0x40, version 1.1, le64 disk size at 0x170, unallocated block map); inspector: 'vdi', safe."""
    sector_count(virtual_size)
    blocks = ceil_div(virtual_size, _VDI_BLOCK_SIZE)
    bmap_offset = SECTOR
    bmap_size = align(blocks * 4, SECTOR)
    header = pad(b"<<< Oracle VM VirtualBox Disk Image >>>\n", 64) + struct.pack(
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
    return pad(header, bmap_offset) + pad(block_map, bmap_size)


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
    sector_count(virtual_size)
    log_offset, metadata_offset, bat_offset = 1 * MiB, 2 * MiB, 3 * MiB
    data_blocks = ceil_div(virtual_size, _VHDX_BLOCK_SIZE)
    chunk_ratio = (1 << 23) * _VHDX_LOGICAL_SECTOR // _VHDX_BLOCK_SIZE
    bat_entries = data_blocks + (data_blocks - 1) // chunk_ratio
    bat_length = align(bat_entries * 8, MiB)

    identifier = pad(b"vhdxfile" + "bcc-images tests".encode("utf-16-le"), 64 * KiB)

    def header(sequence: int) -> bytes:
        def build(checksum: int) -> bytes:
            return pad(
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

        return pad(_with_crc32c(build), 64 * KiB)

    def region_table(checksum: int) -> bytes:
        entries = struct.pack(
            "<16sQII", _guid(_VHDX_REGION_BAT), bat_offset, bat_length, 1
        ) + struct.pack("<16sQII", _guid(_VHDX_REGION_METADATA), metadata_offset, MiB, 1)
        return pad(struct.pack("<4sIII", b"regi", checksum, 2, 0) + entries, 64 * KiB)

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
    metadata = pad(pad(table, 64 * KiB) + data, MiB)

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
    material_sectors = align(ceil_div(_LUKS_KEY_BYTES * _LUKS_STRIPES, SECTOR), 8)
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
    return pad(header, (_LUKS_PAYLOAD_SECTORS + 1) * SECTOR)  # one payload sector
