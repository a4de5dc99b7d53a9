"""Inspection of disk-image bytes (R46, R47): formats, mismatches, safety checks, sizes."""

from __future__ import annotations

import io

import pytest

from app.errors import ErrorCode
from app.images.inspection import ImportRefused, inspect
from tests import diskimages

GiB = 1024**3

ACCEPTED_CASES = [
    ("qcow2", "QCOW2", GiB),
    ("vmdk_stream_optimized", "VMDK", GiB),
    ("vmdk_monolithic_sparse", "VMDK", GiB),
    ("vhd", "VHD", GiB),
]


@pytest.mark.parametrize(("case", "declared", "virtual"), ACCEPTED_CASES)
def test_valid_images_are_accepted_with_their_virtual_size(
    case: str, declared: str, virtual: int
) -> None:
    data = diskimages.CASES[case][0]()
    verdict = inspect(io.BytesIO(data), declared)
    assert (verdict.disk_format, verdict.virtual_size_bytes, verdict.size_bytes) == (
        declared,
        virtual,
        len(data),
    )


def test_raw_virtual_size_is_the_object_size() -> None:
    data = diskimages.raw(6 * 1024 * 1024)
    assert inspect(io.BytesIO(data), "RAW").virtual_size_bytes == len(data)


def _refusal(data: bytes, declared: str) -> ImportRefused:
    with pytest.raises(ImportRefused) as caught:
        inspect(io.BytesIO(data), declared)
    return caught.value


@pytest.mark.parametrize(
    ("case", "check"),
    [
        ("qcow2_with_backing_file", "backing_file: Image has a backing file"),
        ("qcow2_with_data_file", "data_file: Image has data_file set"),
        ("qcow2_with_unknown_feature", "unknown_features: Unknown QCOW2 features found"),
        ("qcow2_bad_version", "unknown_features: Unsupported qcow2 version"),
    ],
)
def test_unsafe_qcow2_is_refused_naming_the_check(case: str, check: str) -> None:
    refused = _refusal(diskimages.CASES[case][0](), "QCOW2")
    assert refused.code is ErrorCode.IMPORT_UNSAFE_IMAGE
    assert refused.checks == [check]


@pytest.mark.parametrize(
    ("case", "check"),
    [
        ("vmdk_flat_descriptor", "descriptor: Unsupported subformat"),
        ("vmdk_with_slash_extent", "descriptor: Invalid extent filenames found"),
    ],
)
def test_unsafe_vmdk_is_refused(case: str, check: str) -> None:
    refused = _refusal(diskimages.CASES[case][0](), "VMDK")
    assert refused.code is ErrorCode.IMPORT_UNSAFE_IMAGE
    assert refused.checks == [check]


@pytest.mark.parametrize(
    ("data", "check"),
    [
        (b"", "size: the file is empty"),
        (b"\x00", "size: 1 bytes is not a whole number of 512-byte sectors"),
        (bytes(513), "size: 513 bytes is not a whole number of 512-byte sectors"),
    ],
    ids=["empty", "one-byte", "part-sector"],
)
def test_degenerate_raw_files_are_unsafe(data: bytes, check: str) -> None:
    refused = _refusal(data, "RAW")
    assert refused.code is ErrorCode.IMPORT_UNSAFE_IMAGE
    assert refused.checks == [check]


def test_a_qcow2_marked_corrupt_is_unsafe() -> None:
    refused = _refusal(diskimages.qcow2_marked_corrupt(), "QCOW2")
    assert refused.code is ErrorCode.IMPORT_UNSAFE_IMAGE
    assert refused.checks == ["corrupt: qemu marked the image corrupt (incompatible feature bit 1)"]


def test_qcow2_declared_as_raw_is_a_mismatch() -> None:
    refused = _refusal(diskimages.qcow2(), "RAW")
    assert refused.code is ErrorCode.IMPORT_FORMAT_MISMATCH
    assert refused.checks == ["format: declared raw, content is qcow2"]


def test_an_unsafe_qcow2_declared_as_raw_names_every_failed_check() -> None:
    refused = _refusal(diskimages.qcow2_with_backing_file(), "RAW")
    assert refused.code is ErrorCode.IMPORT_UNSAFE_IMAGE
    assert refused.checks == [
        "backing_file: Image has a backing file",
        "format: declared raw, content is qcow2",
    ]


@pytest.mark.parametrize("case", ["iso", "qed", "vdi", "vhdx", "luks"])
def test_other_formats_are_unsupported(case: str) -> None:
    refused = _refusal(diskimages.CASES[case][0](), "RAW")
    assert refused.code is ErrorCode.IMPORT_FORMAT_UNSUPPORTED
    assert refused.checks == [f"format: detected {case}"]


def test_virtual_size_over_500_gb_is_refused() -> None:
    refused = _refusal(diskimages.qcow2(600 * GiB), "QCOW2")
    assert refused.code is ErrorCode.IMPORT_TOO_LARGE
    assert refused.checks == [f"virtual size: {600 * GiB} bytes is over {500 * GiB}"]


def test_the_checksum_is_of_every_byte() -> None:
    import hashlib

    data = diskimages.vhd()
    assert inspect(io.BytesIO(data), "VHD").sha256 == hashlib.sha256(data).hexdigest()
