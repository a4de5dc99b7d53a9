"""What a tag may be (R114): at most 50 per resource, keys of 1-128 characters unique per
resource and case-sensitive, values of 0-256, and no key under the reserved ``bcc:`` prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_TAGS = 50
MAX_RESOURCES = 100
MAX_KEY = 128
MAX_VALUE = 256
RESERVED_PREFIX = "bcc:"


@dataclass(frozen=True)
class TagFilter:
    """Resources carrying ``key`` (with ``value`` when one is given)."""

    key: str
    value: str | None = None


def key_problem(key: str) -> str | None:
    """Why a tag key cannot be used, or None."""
    if not 1 <= len(key) <= MAX_KEY:
        return f"A tag key is 1 to {MAX_KEY} characters; got {len(key)}."
    if key.casefold().startswith(RESERVED_PREFIX):
        return f"Tag keys starting with {RESERVED_PREFIX!r} are reserved for the platform."
    return None


def value_problem(value: str) -> str | None:
    """Why a tag value cannot be used, or None."""
    if len(value) > MAX_VALUE:
        return f"A tag value is at most {MAX_VALUE} characters; got {len(value)}."
    return None


def filter_parameters(filters: tuple[TagFilter, ...]) -> dict[str, Any]:
    """The statement parameters of ``tagged_with`` for these filters, by index."""
    values: dict[str, Any] = {}
    for index, tag in enumerate(filters):
        values[f"tag_key_{index}"] = tag.key
        if tag.value is not None:
            values[f"tag_value_{index}"] = tag.value
    return values
