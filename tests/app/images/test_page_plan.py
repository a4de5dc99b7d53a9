"""P5 as a plan check: the image page reads indexes in order, never the whole image table,
however many images other accounts have (no timing in CI: the benchmark measures time)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.pq import ExecStatus
from sqlalchemy import Engine, event, insert, text
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect

from app.accounts.models import Account
from app.database import read_session
from app.ids import new_id
from app.images import governance
from app.images import page as images_page
from app.images.models import Image
from app.images.rules import ImageType
from app.pagination import PageRequest
from app.platform.viewer import Role, Viewer
from app.tags.models import Tag
from app.tags.rules import TagFilter
from app.workflows import tracking

OTHER_ACCOUNTS = 40
OTHER_IMAGES = 20_000


@pytest.fixture(scope="module")
def crowded(engine: Engine) -> Engine:
    """Many private images of other accounts, added once (old, so other tests' lists are
    unaffected)."""
    old = datetime(2020, 1, 1, tzinfo=UTC)
    accounts = [new_id("acc") for _ in range(OTHER_ACCOUNTS)]
    with engine.begin() as conn:
        conn.execute(
            insert(Account),
            [
                {
                    "id": a,
                    "name": a,
                    "role": "CUSTOMER",
                    "balance_minor": 0,
                    "in_arrears": False,
                    "created_at": old,
                }
                for a in accounts
            ],
        )
        rows = [
            {
                "id": new_id("m"),
                "name": f"private-{n}",
                "description": "",
                "kind": "CUSTOM",
                "generation": "BCC",
                "region_code": ("bj", "gz", "su")[n % 3],
                "status": "AVAILABLE",
                "os_type": "LINUX",
                "os_name": "Ubuntu",
                "os_version": "22.04",
                "os_arch": "x86_64",
                "min_disk_gb": 40,
                "created_at": old + timedelta(seconds=n),
                "owner_id": accounts[n % OTHER_ACCOUNTS],
                "source_kind": "INSTANCE",
                "charge_os_license": "NONE",
            }
            for n in range(OTHER_IMAGES)
        ]
        conn.execute(insert(Image), rows)
        conn.execute(text("ANALYZE"))
    return engine


def _statements(engine: Engine, run: Any) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    def listen(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    return seen


def _plan(engine: Engine, statement: str, parameters: Any) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            return "\n".join(str(row[-1]) for row in rows)
        rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters).all()
        return "\n".join(str(row[0]) for row in rows)


def _page_plans(engine: Engine, viewer: Viewer | None, order: str) -> Iterator[str]:
    def page(after: str | None) -> Any:
        with read_session(engine) as session:
            return images_page.list_images(
                session=session,
                viewer=viewer,
                filters=images_page.ImageFilter(),
                order_field=order,
                descending=order == "CREATED_AT",
                page=PageRequest(first=50, after=after),
                now=datetime.now(UTC),
            )

    first = page(None)
    deep_cursor = first.cursors[-1] if first.cursors else None
    for after in (None, deep_cursor):
        [(statement, parameters)] = _statements(engine, lambda a=after: page(a))
        yield _plan(engine, statement, parameters)


@pytest.mark.parametrize("order", ["CREATED_AT", "NAME"])
@pytest.mark.parametrize("who", ["anonymous", "customer"])
def test_the_page_query_reads_indexes_not_the_table(crowded: Engine, who: str, order: str) -> None:
    viewer = (
        Viewer(account_id=f"acc-{secrets.token_hex(4)}", role=Role.CUSTOMER, token_id="t")
        if who == "customer"
        else None
    )
    index = "ix_image_kind_created" if order == "CREATED_AT" else "ix_image_kind_name"
    for plan in _page_plans(crowded, viewer, order):
        assert index in plan, plan
        if crowded.dialect.name == "sqlite":
            full_scans = [
                line
                for line in plan.splitlines()
                # the image table (under any alias), not image_share: SQLite may scan a
                # table it knows to be small to build the shared-with-me list
                if re.match(r"SCAN image(_\d+)?( |$)", line) and "INDEX" not in line
            ]
            assert full_scans == [], plan
        else:
            assert re.search(r"Seq Scan on image(\s|$)", plan) is None, plan


def test_the_family_lookup_and_the_next_deprecation_read_indexes(crowded: Engine) -> None:
    """R115, R124: imageFromFamily and the versions read each request sends (with the next
    scheduled deprecation) probe indexes, whatever the number of images."""
    viewer = Viewer(account_id=f"acc-{secrets.token_hex(4)}", role=Role.CUSTOMER, token_id="t")
    now = datetime.now(UTC)

    def lookups() -> None:
        with read_session(crowded) as session:
            governance.image_from_family(
                session=session, viewer=viewer, region="bj", family="web", now=now
            )
            tracking.read(session=session, account_id=viewer.account_id, now=now)

    own, public, read = _statements(crowded, lookups)
    own_plan = _plan(crowded, *own)
    # the caller's own images only: by family, or (PostgreSQL's pick on few rows) by owner
    assert "ix_image_family" in own_plan or "ix_image_owner_region" in own_plan, own_plan
    for statement, parameters in (own, public):
        plan = _plan(crowded, statement, parameters)
        assert re.search(r"(Seq Scan on image(\s|$))|(^SCAN image$)", plan, re.M) is None, plan
    plan = _plan(crowded, *read)
    assert "ix_image_deprecate_at" in plan, plan


def test_a_tag_filter_stays_a_keyset_page(crowded: Engine) -> None:
    """R114: a tag filter probes the tag index for the caller's own tags and fetches those
    images by key: its cost follows the caller's tagged images, not the table (no scan of the
    image or tag tables)."""
    viewer = Viewer(account_id=f"acc-{secrets.token_hex(4)}", role=Role.CUSTOMER, token_id="t")
    with crowded.begin() as conn:  # other tenants tag their images: tags of many owners
        owners = [row[0] for row in conn.execute(text("SELECT id FROM account LIMIT 200"))]
        images = [row[0] for row in conn.execute(text("SELECT id FROM image LIMIT 20000"))]
        if not conn.execute(text("SELECT 1 FROM tag LIMIT 1")).first():
            rows = [
                {
                    "resource_id": image_id,
                    "key": key,
                    "value": f"v{n % 7}",
                    "owner_id": owners[n % len(owners)],
                    "created_at": datetime.now(UTC),
                }
                for n, image_id in enumerate(images)
                for key in ("team", "env")
            ]
            conn.execute(insert(Tag), rows)
            conn.execute(text("ANALYZE"))

    def page() -> None:
        with read_session(crowded) as session:
            images_page.list_images(
                session=session,
                viewer=viewer,
                filters=images_page.ImageFilter(tags=(TagFilter("team", "web"), TagFilter("env"))),
                order_field="CREATED_AT",
                descending=True,
                page=PageRequest(first=50),
                now=datetime.now(UTC),
            )

    [(statement, parameters)] = _statements(crowded, page)
    plan = _plan(crowded, statement, parameters)
    assert "ix_tag_owner_key_value" in plan, plan
    assert re.search(r"(Seq Scan on (image|tag)(\s|$))|(^SCAN (image|tag)$)", plan, re.M) is None


def _generic_plan(engine: Engine, query: Any) -> str:
    """The plan PostgreSQL makes once for every value of the page's statement, as the page
    reads' connections plan it (``app.database.GENERIC_PLANS``).
    """
    dialect = psycopg_dialect(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]
    state = query.statement.compile(dialect=dialect).construct_expanded_state(query.parameters)
    values = tuple(state.parameters[name] for name in state.positiontup)
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert isinstance(raw, psycopg.Connection)
        conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        # PREPARE by the simple protocol: its $n are the prepared statement's, not this call's
        done = raw.pgconn.exec_(f"PREPARE page AS {state.statement}".encode())
        assert done.status == ExecStatus.COMMAND_OK, done.error_message
        try:
            types = conn.exec_driver_sql(
                "SELECT parameter_types::text[] FROM pg_prepared_statements WHERE name = 'page'"
            ).scalar_one()
            # EXPLAIN takes no parameters: the values are written as literals
            literals = ", ".join(
                f"{sql.Literal(value).as_string(raw)}::{kind}"
                for value, kind in zip(values, types, strict=True)
            )
            explained = raw.pgconn.exec_(f"EXPLAIN EXECUTE page({literals})".encode())
            assert explained.status == ExecStatus.TUPLES_OK, explained.error_message
            lines = [explained.get_value(n, 0) for n in range(explained.ntuples)]
        finally:
            conn.exec_driver_sql("DEALLOCATE page")
            conn.rollback()
    return "\n".join(bytes(line or b"").decode() for line in lines)


#: the console's pages, planned once for every value, and filtered pages, planned for theirs
PLANNED_ONCE = ("first page", "next page", "anonymous", "by name")
FILTERED: dict[str, dict[str, Any]] = {
    "region": {"region": "bj"},
    "name contains": {"name_contains": "private-1"},
    "tag": {"tags": (TagFilter("team", "web"),)},
    "types": {"types": (ImageType.PUBLIC,)},
}


@pytest.mark.parametrize("shape", [*PLANNED_ONCE, *FILTERED])
def test_a_page_planned_once_for_every_value_reads_indexes(crowded: Engine, shape: str) -> None:
    """R164: the console's page (no filter) is planned once for any viewer, time or cursor;
    that plan still walks the indexes in page order and never reads the image table whole.
    A filter's plan depends on how many rows match its value (a name pattern, a tag): a
    filtered page is planned for its values."""
    viewer = Viewer(account_id=f"acc-{secrets.token_hex(4)}", role=Role.CUSTOMER, token_id="t")
    order = "NAME" if shape == "by name" else "CREATED_AT"
    with read_session(crowded) as session:

        def query(after: str | None = None) -> Any:
            return images_page.page_query(
                session=session,
                viewer=None if shape == "anonymous" else viewer,
                filters=images_page.ImageFilter(**FILTERED.get(shape, {})),
                order_field=order,
                descending=order == "CREATED_AT",
                page=PageRequest(first=50, after=after),
                now=datetime.now(UTC),
            )

        found = query()
        if shape == "next page":
            found = query(found.run(session).cursor(-1))
    assert found.planned_once is (shape in PLANNED_ONCE)
    if not found.planned_once or crowded.dialect.name != "postgresql":
        return  # planned for its values, as the tests above check
    plan = _generic_plan(crowded, found)
    index = "ix_image_kind_name" if order == "NAME" else "ix_image_kind_created"
    assert index in plan, plan
    assert re.search(r"Seq Scan on image(\s|$)", plan) is None, plan
