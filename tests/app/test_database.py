"""The database layer: private files, and transactions that lost a race run again."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session

from app.config import load_settings
from app.database import make_engine, run_write


def test_a_new_sqlite_database_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "private.db"
    engine = make_engine(load_settings({}, database_url=f"sqlite:///{path}"))
    with engine.connect() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.commit()
    engine.dispose()
    assert path.stat().st_mode & 0o777 == 0o600


class _Deadlock(Exception):
    sqlstate = "40P01"


def test_a_deadlocked_transaction_runs_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.database.time.sleep", lambda _: None)
    engine = make_engine(load_settings({}, database_url=f"sqlite:///{tmp_path / 'r.db'}"))
    attempts: list[int] = []

    def action(session: Session) -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise OperationalError("UPDATE account", {}, _Deadlock())
        return "done"

    assert run_write(engine, action) == "done"
    assert len(attempts) == 3


def test_other_database_errors_are_not_retried(tmp_path: Path) -> None:
    engine = make_engine(load_settings({}, database_url=f"sqlite:///{tmp_path / 'r.db'}"))
    attempts: list[int] = []

    def action(session: Session) -> None:
        attempts.append(1)
        raise OperationalError("SELECT", {}, Exception("disk I/O error"))

    with pytest.raises(DBAPIError):
        run_write(engine, action)
    assert len(attempts) == 1
