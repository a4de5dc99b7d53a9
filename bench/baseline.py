"""The raw baseline (PERFORMANCE.md): a plain Starlette route that runs the same SQL as the
image page's resolver and returns the same JSON shape with orjson — the limit of this stack.

Run: uvicorn bench.baseline:create --factory --loop asyncio (settings from the environment).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.accounts import service as accounts_service
from app.config import load_settings
from app.database import make_engine, read_session
from app.images import page as images_page
from app.images.page_rows import ImageRow
from app.images.rules import type_for_viewer
from app.pagination import PageRequest
from app.platform.service_secrets import CURSOR_SECRET, shared_secret

PAGE_SIZE = 50
#: what the service binds the page's cursors to (schema.pagination.page_request for the root
#: ``images`` field with no parent and no filter), so both sign the same endCursor
CURSOR_SCOPE = "Query.images||" + hashlib.sha256(orjson.dumps(None)).hexdigest()[:16]


def _node(row: ImageRow, viewer: Any) -> dict[str, Any]:
    image, region, listing = row.image, row.region, row.listing
    return {
        "id": image.id,
        "name": image.name,
        "type": type_for_viewer(
            image.kind,
            image.owner_id,
            viewer.account_id if viewer else None,
            viewer.is_admin if viewer else False,
        ).value,
        "status": image.status,
        "region": {"code": region.code},
        "os": {"type": image.os_type, "name": image.os_name, "version": image.os_version},
        "chargeRoot": {
            "osLicense": image.charge_os_license,
            "listing": {"id": listing.id, "title": listing.title} if listing else None,
        },
        "listing": {"id": listing.id} if listing and image.listing_id else None,
    }


def create() -> Starlette:
    """The baseline app on the same database and settings as the service."""
    settings = load_settings()
    engine = make_engine(settings)
    secret = shared_secret(engine, CURSOR_SECRET, settings.cursor_secret)

    async def page(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        with read_session(engine) as session:
            viewer = None
            if header.startswith("Bearer "):
                viewer = accounts_service.authenticate(session=session, token=header[7:])
                if viewer is None:
                    return Response(status_code=401)
            found = images_page.list_images(
                session=session,
                viewer=viewer,
                filters=images_page.ImageFilter(),
                order_field="CREATED_AT",
                descending=True,
                page=PageRequest(first=PAGE_SIZE, scope=CURSOR_SCOPE, secret=secret),
                now=datetime.now(UTC),
            )
        body = {
            "data": {
                "images": {
                    "nodes": [_node(row, viewer) for row in found.items],
                    "pageInfo": {
                        "hasNextPage": found.has_next_page,
                        "endCursor": found.cursor(-1) if found.items else None,
                    },
                }
            }
        }
        return Response(orjson.dumps(body), media_type="application/json")

    app = Starlette(routes=[Route("/raw", page, methods=["GET", "POST"])])
    app.state.bench_engine = engine
    return app
