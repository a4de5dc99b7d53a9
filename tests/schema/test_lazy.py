"""Lazy page objects: the same field values as the eager ones, each read once."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import strawberry
from sqlalchemy import Engine, select

from app.images.models import Image as ImageTable
from app.platform.viewer import Role, Viewer
from schema.images.types import Image
from schema.lazy import eager, lazy_type


@strawberry.type
class Pair:
    left: int
    right: str

    @strawberry.field
    def both(self) -> str:
        return f"{self.left}{self.right}"


def test_a_lazy_object_reads_each_field_once_and_is_an_object_of_its_type() -> None:
    reads: list[str] = []

    def left(row: dict[str, Any]) -> int:
        reads.append("left")
        return int(row["l"])

    readers = {"left": left, "right": lambda row: row["r"]}
    lazy = lazy_type(Pair, readers)({"l": "7", "r": "x"})
    assert isinstance(lazy, Pair)
    assert reads == []  # nothing read until asked for
    assert (lazy.left, lazy.left, lazy.right) == (7, 7, "x")
    assert reads == ["left"]
    assert eager(Pair, readers, {"l": "7", "r": "x"}) == Pair(left=7, right="x")


def test_readers_must_name_every_field_not_answered_by_a_resolver() -> None:
    with pytest.raises(TypeError, match="right"):
        lazy_type(Pair, {"left": lambda row: 1})
    with pytest.raises(TypeError, match="both"):
        lazy_type(Pair, {"left": lambda row: 1, "right": lambda row: "", "both": str})


def test_a_page_image_has_every_field_of_the_image_from_row(engine: Engine) -> None:
    with engine.connect() as conn:
        rows = conn.execute(select(*ImageTable.__table__.c).limit(20)).all()  # type: ignore[attr-defined]
    assert rows
    viewers = [None, Viewer(account_id="acc-00000000", role=Role.CUSTOMER, token_id="t")]
    names = [f.name for f in dataclasses.fields(Image) if getattr(f, "base_resolver", None) is None]
    assert {"id", "name", "type", "os", "charge_root", "created_at"} <= set(names)
    for row in rows:
        for viewer in viewers:
            built = Image.from_row(row, viewer)  # type: ignore[arg-type]  # a Core row
            lazy = Image.of_page_row(row, viewer, None)  # type: ignore[arg-type]
            assert {name: getattr(lazy, name) for name in names} == {
                name: getattr(built, name) for name in names
            }
