"""Cloud ids: a prefix and random base62 characters from a cryptographic RNG."""

from __future__ import annotations

import re
import secrets
import string

BASE62 = string.ascii_letters + string.digits

#: prefix -> number of random characters (SPEC §1)
ID_LENGTHS = {
    "acc": 8,
    "m": 8,
    "s": 8,
    "i": 8,
    "lst": 8,
    "ord": 10,
    "op": 10,
    "tok": 12,
    "obj": 12,
    "txn": 12,
    "chg": 12,
    "sale": 12,
    "ilp": 8,
    "whe": 8,
    "whd": 16,
    "evt": 16,
}

_PATTERN = re.compile(r"^(" + "|".join(ID_LENGTHS) + r")-([A-Za-z0-9]+)$")


def new_id(prefix: str) -> str:
    """Return a fresh random id such as ``m-3fZk9QaB``."""
    length = ID_LENGTHS[prefix]
    return prefix + "-" + "".join(secrets.choice(BASE62) for _ in range(length))


def id_prefix(value: str) -> str | None:
    """Return the prefix of a well-formed id, or None if the text is not an id of ours."""
    match = _PATTERN.match(value)
    if match is None or len(match.group(2)) != ID_LENGTHS[match.group(1)]:
        return None
    return match.group(1)


def is_id(value: str, prefix: str) -> bool:
    """Tell whether ``value`` is a well-formed id with the given prefix."""
    return id_prefix(value) == prefix
