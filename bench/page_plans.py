"""R164: each shape of the list pages' statements, planned for the values (a custom plan, as
PostgreSQL plans a statement by default) and planned once for every value (a generic plan),
timed on a generated catalogue (PostgreSQL).

Usage: .venv/bin/python -m bench.page_plans --database-url postgresql+psycopg://…
       (a database made by bench.generate; its customer with the most instances is the viewer)
Prints one line per shape: whether the service plans it once (a generic plan: the console's
pages, no filter), the median milliseconds of a custom and of a generic plan, and whether both
return the same rows.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy import create_engine, text

from app.images import page as images_page
from app.images.rules import ImageType
from app.instances import service as instances_service
from app.pagination import PageRequest
from app.platform.viewer import Role, Viewer
from app.tags.rules import TagFilter

RUNS = 15


def _timed(conn: psycopg.Connection[Any], sql: str, params: dict[str, Any], mode: str) -> Any:
    conn.execute(f"SET plan_cache_mode = {mode}")
    times, rows = [], None
    for _ in range(RUNS):
        started = time.perf_counter()
        rows = conn.execute(sql, params, prepare=True).fetchall()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[5:]), rows


def _shapes(session: Any, viewer: Viewer) -> dict[str, Any]:
    """The page queries to plan: the console's pages, then each filter alone."""
    now = datetime.now(UTC)
    first = PageRequest(first=50)

    def images(**given: Any) -> Any:
        order = given.pop("order", "CREATED_AT")
        who = given.pop("viewer", viewer)
        page = given.pop("page", first)
        return images_page.page_query(
            session=session,
            viewer=who,
            filters=images_page.ImageFilter(**given),
            order_field=order,
            descending=order == "CREATED_AT",
            page=page,
            now=now,
        )

    head = images_page.list_images(
        session=session,
        viewer=viewer,
        filters=images_page.ImageFilter(),
        order_field="CREATED_AT",
        descending=True,
        page=first,
        now=now,
    )
    return {
        "images, first page": images(),
        "images, next page": images(page=PageRequest(first=50, after=head.cursor(-1))),
        "images, anonymous": images(viewer=None),
        "images, by name": images(order="NAME"),
        "images, region": images(region="bj"),
        "images, types CUSTOM": images(types=(ImageType.CUSTOM,)),
        "images, types SHARED": images(types=(ImageType.SHARED,)),
        "images, os type": images(os_type="WINDOWS"),
        "images, status": images(status="AVAILABLE"),
        "images, name contains": images(name_contains="ubuntu"),
        "images, family": images(family="ubuntu"),
        "images, flavor": images(flavor="bcc.g5.c2m8"),
        "images, tag": images(tags=(TagFilter("env", "prod"),)),
        "instances, first page": instances_service.list_instances(
            session=session,
            viewer=viewer,
            filters=instances_service.InstanceFilter(),
            page=first,
        ),
    }


def main() -> None:
    """Time every shape both ways."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()
    engine = create_engine(args.database_url)
    from sqlmodel import Session

    with Session(engine) as session:
        owner = session.execute(
            text("SELECT owner_id FROM instance GROUP BY owner_id ORDER BY count(*) DESC LIMIT 1")
        ).scalar_one()
        viewer = Viewer(account_id=owner, role=Role.CUSTOMER, token_id="")
        shapes = _shapes(session, viewer)
        raw = session.connection().connection.dbapi_connection
        assert isinstance(raw, psycopg.Connection)
        print(f"{'shape':28} planned once  custom ms  generic ms  same rows")
        for name, query in shapes.items():
            compiled = query.statement.compile(dialect=engine.dialect)
            state = compiled.construct_expanded_state(query.parameters)
            sql, params = state.statement, dict(state.parameters)
            custom, a = _timed(raw, sql, params, "force_custom_plan")
            generic, b = _timed(raw, sql, params, "force_generic_plan")
            once = "yes" if query.planned_once else "no"
            print(f"{name:28} {once:12}  {custom:9.2f}  {generic:10.2f}  {a == b}")
            raw.execute("DEALLOCATE ALL")


if __name__ == "__main__":
    main()
