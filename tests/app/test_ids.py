"""Cloud ids: prefixes, lengths, base62, randomness (SPEC §1)."""

from __future__ import annotations

import re

import pytest

from app.ids import ID_LENGTHS, id_prefix, is_id, new_id


@pytest.mark.parametrize(("prefix", "length"), sorted(ID_LENGTHS.items()))
def test_new_ids_have_prefix_and_base62_body(prefix: str, length: int) -> None:
    value = new_id(prefix)
    assert re.fullmatch(rf"{prefix}-[A-Za-z0-9]{{{length}}}", value)
    assert id_prefix(value) == prefix


def test_ids_are_not_repeated() -> None:
    assert len({new_id("m") for _ in range(2000)}) == 2000


@pytest.mark.parametrize(
    "value", ["m-1234567", "m-123456789", "x-12345678", "m-1234567!", "", "m-", "M-12345678"]
)
def test_malformed_ids_are_not_ids(value: str) -> None:
    assert not is_id(value, "m")
