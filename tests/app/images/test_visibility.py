"""R5 is written once: the fast image page (one indexed part per kind of visible image) finds
exactly the rows the visibility predicate admits, for every kind of caller and type filter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from app.database import read_session, write_session
from app.images import page as images_page
from app.images import service as images_service
from app.images.models import Image, ImageShare
from app.images.rules import ImageType, type_for_viewer
from app.pagination import PageRequest
from app.platform.viewer import Role, Viewer
from tests.factories import Factory, custom_image

FILTERS = [None, *[(t,) for t in ImageType], (ImageType.CUSTOM, ImageType.SHARED)]


def _paged(engine: Engine, viewer: Viewer | None, types: tuple[ImageType, ...] | None) -> list[str]:
    found: list[str] = []
    after = None
    with read_session(engine) as session:
        while True:
            page = images_page.list_images(
                session=session,
                viewer=viewer,
                filters=images_page.ImageFilter(types=types),
                order_field="CREATED_AT",
                descending=True,
                page=PageRequest(first=100, after=after),
                now=datetime.now(UTC),
            )
            found += [row.image.id for row in page.items]
            if not page.has_next_page:
                return found
            after = page.cursor(-1)


def _admitted(
    engine: Engine, viewer: Viewer | None, types: tuple[ImageType, ...] | None
) -> set[str]:
    with read_session(engine) as session:
        rows = session.exec(select(Image).where(images_service.visible_clause(viewer))).all()
    me = viewer.account_id if viewer else None
    admin = viewer is not None and viewer.is_admin
    return {
        row.id
        for row in rows
        if types is None or type_for_viewer(row.kind, row.owner_id, me, admin) in types
    }


@pytest.mark.parametrize(
    "types", FILTERS, ids=lambda t: "any" if t is None else "+".join(x.value for x in t)
)
def test_the_page_finds_what_the_predicate_admits(
    engine: Engine, factory: Factory, types: tuple[ImageType, ...] | None
) -> None:
    owner, recipient, stranger = factory.account(), factory.account(), factory.account()
    admin = factory.account(Role.ADMIN)
    mine = [custom_image(engine, owner.id) for _ in range(3)]
    shared = custom_image(engine, stranger.id)
    custom_image(engine, stranger.id)  # not shared with anyone
    with write_session(engine) as session:
        session.add(
            ImageShare(image_id=shared, account_id=owner.id, created_at=factory.clock.now())
        )
        session.add(
            ImageShare(image_id=mine[0], account_id=recipient.id, created_at=factory.clock.now())
        )
    cast = [
        None,
        *(
            Viewer(t.id, r, t.token_id)
            for t, r in [
                (owner, Role.CUSTOMER),
                (recipient, Role.CUSTOMER),
                (stranger, Role.CUSTOMER),
                (admin, Role.ADMIN),
            ]
        ),
    ]
    for viewer in cast:
        paged = _paged(engine, viewer, types)
        assert len(paged) == len(set(paged)), "an image appeared on two pages"
        assert set(paged) == _admitted(engine, viewer, types), viewer
    owner_view = cast[1]
    if types is None:
        assert set(mine) | {shared} <= set(_paged(engine, owner_view, types))
