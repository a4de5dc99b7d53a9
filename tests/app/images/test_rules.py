"""Pure image rules: names (R7), descriptions, viewer-relative types (R2)."""

from __future__ import annotations

import pytest

from app.images.rules import ImageType, description_problem, name_problem, type_for_viewer


@pytest.mark.parametrize(
    "name",
    ["a", "Ubuntu-22.04", "web_server/v1.2", "镜像-生产", "A" * 65, "中"],
)
def test_valid_names(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "1 to 65"),
        ("A" * 66, "1 to 65"),
        ("1abc", "start with a letter"),
        ("-abc", "start with a letter"),
        ("has space", "start with a letter"),
        ("semi;colon", "start with a letter"),
        ("emoji😀", "start with a letter"),
    ],
)
def test_invalid_names_are_explained(name: str, why: str) -> None:
    problem = name_problem(name)
    assert problem is not None
    assert why in problem


def test_description_limit() -> None:
    assert description_problem("x" * 256) is None
    assert description_problem("x" * 257) == "Descriptions are at most 256 characters; got 257."


@pytest.mark.parametrize(
    ("kind", "owner", "viewer", "admin", "expected"),
    [
        ("CUSTOM", "acc-a", "acc-a", False, ImageType.CUSTOM),
        ("CUSTOM", "acc-a", "acc-b", False, ImageType.SHARED),
        ("CUSTOM", "acc-a", "acc-b", True, ImageType.CUSTOM),
        ("PUBLIC", "acc-p", None, False, ImageType.PUBLIC),
        ("MARKET", "acc-p", "acc-b", False, ImageType.MARKET),
    ],
)
def test_type_for_viewer(
    kind: str, owner: str, viewer: str | None, admin: bool, expected: ImageType
) -> None:
    assert type_for_viewer(kind, owner, viewer, admin) is expected
