"""Two deprecations closing one replacement cycle from both ends at the same moment (R159):
one waits for the other, or deadlocks and runs again, so exactly one of them is accepted.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from app.database import run_write
from app.errors import DomainError
from app.images import governance
from app.platform.viewer import Role, Viewer
from tests.factories import Factory, custom_image


def test_two_deprecations_closing_a_cycle_at_once_cannot_both_pass(
    engine: Engine, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = factory.account()
    viewer = Viewer(owner.id, Role.CUSTOMER, owner.token_id)
    a, b = custom_image(engine, owner.id), custom_image(engine, owner.id)
    later = datetime.now(UTC) + timedelta(days=30)
    # both requests hold their own image before either follows the other's replacements
    # (on SQLite the second cannot begin until the first ends: the wait times out)
    both_hold_their_image = threading.Barrier(2, timeout=2)
    calls = itertools.count()
    follow = governance._leads_to

    def after_both_hold_theirs(*args: Any) -> bool:
        if next(calls) < 2:
            with contextlib.suppress(threading.BrokenBarrierError):
                both_hold_their_image.wait()
        return follow(*args)

    monkeypatch.setattr(governance, "_leads_to", after_both_hold_theirs)

    def deprecate(image_id: str, replacement_id: str) -> str:
        try:
            run_write(
                engine,
                lambda session: governance.deprecate(
                    session=session,
                    viewer=viewer,
                    image_id=image_id,
                    deprecate_at=later,
                    replacement_id=replacement_id,
                    now=datetime.now(UTC),
                ),
            )
        except DomainError as error:
            return error.code.value
        return "ACCEPTED"

    with ThreadPoolExecutor(2) as pool:
        results = sorted(pool.map(deprecate, [a, b], [b, a]))
    assert results == ["ACCEPTED", "INVALID_INPUT"]
