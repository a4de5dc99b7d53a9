"""Sizes and byte-layout helpers shared by the disk-image builders."""

from __future__ import annotations

SECTOR = 512
KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30


def ceil_div(a: int, b: int) -> int:
    """Returns a / b rounded up."""
    return -(-a // b)


def align(n: int, alignment: int) -> int:
    """Returns n rounded up to a multiple of alignment."""
    return ceil_div(n, alignment) * alignment


def pad(data: bytes, size: int) -> bytes:
    """Returns data zero-padded to exactly size bytes."""
    if len(data) > size:
        raise ValueError(f"{len(data)} bytes do not fit in {size}")
    return data + bytes(size - len(data))


def sector_count(virtual_size: int) -> int:
    """Returns virtual_size in 512-byte sectors, refusing sizes that are not whole sectors."""
    if virtual_size <= 0 or virtual_size % SECTOR:
        raise ValueError(f"virtual size {virtual_size} is not a positive multiple of {SECTOR}")
    return virtual_size // SECTOR
