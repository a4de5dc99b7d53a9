"""Inspect an uploaded disk image's bytes with oslo.utils' format inspector (R46, R47).

The declared format is never trusted: the content decides, and the OpenStack security checks
(backing files, data-file bits, unknown features, VMDK subformats and extent paths) refuse
files that would make a hypervisor read host files (OSSA-2023-002, OSSA-2024-001/002).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import BinaryIO

from oslo_utils.imageutils import format_inspector

from app.errors import DomainError, ErrorCode

#: declared format (API enum) -> inspector name
ACCEPTED = {"QCOW2": "qcow2", "RAW": "raw", "VMDK": "vmdk", "VHD": "vhd"}
#: inspector names that are a raw disk with a partition table
RAW_LIKE = {"gpt"}
MAX_VIRTUAL_BYTES = 500 * 1024**3
CHUNK = 1024 * 1024


class ImportRefused(DomainError):
    """The bytes failed inspection; ``checks`` names every failed check."""

    def __init__(self, code: ErrorCode, message: str, checks: list[str]) -> None:
        super().__init__(code, message)
        self.checks = checks


@dataclass(frozen=True)
class Verdict:
    """What the inspection found in a file that passed."""

    disk_format: str  # QCOW2, RAW, VMDK or VHD
    virtual_size_bytes: int
    sha256: str
    size_bytes: int
    checks: list[str] = field(default_factory=list)


def inspect(stream: BinaryIO, declared: str) -> Verdict:
    """Read the whole stream once through every inspector and judge the file.

    Raises:
        ImportRefused: IMPORT_FORMAT_UNSUPPORTED (another format, or several at once),
            IMPORT_UNSAFE_IMAGE, IMPORT_FORMAT_MISMATCH, IMPORT_TOO_LARGE.
    """
    digest = hashlib.sha256()
    size = 0
    wrapper = format_inspector.InspectWrapper(stream)
    try:
        while chunk := wrapper.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    finally:
        wrapper.close()
    try:
        detected = wrapper.format
    except format_inspector.ImageFormatError as exc:
        raise ImportRefused(
            ErrorCode.IMPORT_FORMAT_UNSUPPORTED,
            f"The file is not one image format: {exc}.",
            [f"format: {exc}"],
        ) from exc
    if detected is None:  # pragma: no cover - the whole stream was read
        raise ImportRefused(ErrorCode.IMPORT_FORMAT_UNSUPPORTED, "Format undecided.", ["format"])
    name = "raw" if detected.NAME in RAW_LIKE else detected.NAME
    if name not in ACCEPTED.values():
        raise ImportRefused(
            ErrorCode.IMPORT_FORMAT_UNSUPPORTED,
            f"The file is {detected.NAME}; only qcow2, raw, vmdk and vhd can be imported.",
            [f"format: detected {detected.NAME}"],
        )
    checks: list[str] = []
    code: ErrorCode | None = None
    try:
        detected.safety_check()
    except format_inspector.SafetyCheckFailed as exc:
        checks += [f"{check}: {reason}" for check, reason in sorted(exc.failures.items())]
    checks += degenerate(name, detected, size)
    if checks:
        code = ErrorCode.IMPORT_UNSAFE_IMAGE
    if name != ACCEPTED[declared]:
        checks.append(f"format: declared {ACCEPTED[declared]}, content is {detected.NAME}")
        code = code or ErrorCode.IMPORT_FORMAT_MISMATCH
    virtual = size if name == "raw" else int(detected.virtual_size)
    if virtual > MAX_VIRTUAL_BYTES:
        checks.append(f"virtual size: {virtual} bytes is over {MAX_VIRTUAL_BYTES}")
        code = code or ErrorCode.IMPORT_TOO_LARGE
    if code is not None:
        raise ImportRefused(code, _summary(code), checks)
    disk_format = next(k for k, v in ACCEPTED.items() if v == name)
    return Verdict(disk_format, virtual, digest.hexdigest(), size)


SECTOR = 512
QCOW2_FEATURES = slice(0x48, 0x50)  # incompatible features, big-endian
QCOW2_CORRUPT = 1 << 1


def degenerate(name: str, detected: format_inspector.FileInspector, size: int) -> list[str]:
    """Checks beyond the inspector's: no disk is empty or a fraction of a sector, and no
    qcow2 image that qemu marked corrupt is accepted.
    """
    if name == "raw":
        if size == 0:
            return ["size: the file is empty"]
        if size % SECTOR:
            return [f"size: {size} bytes is not a whole number of {SECTOR}-byte sectors"]
    if name == "qcow2":
        header = detected.region("header").data
        features = int.from_bytes(header[QCOW2_FEATURES], "big") if len(header) >= 0x50 else 0
        if features & QCOW2_CORRUPT:
            return ["corrupt: qemu marked the image corrupt (incompatible feature bit 1)"]
    return []


def _summary(code: ErrorCode) -> str:
    return {
        ErrorCode.IMPORT_UNSAFE_IMAGE: "The image failed safety checks; see failure.checks.",
        ErrorCode.IMPORT_FORMAT_MISMATCH: "The file's content is not the declared format.",
        ErrorCode.IMPORT_TOO_LARGE: "The image's virtual size is over 500 GB.",
    }.get(code, "The image was refused.")
