"""Cancelling the siblings of a failed field without dropping their resolvers unawaited.

When a field fails and its error nulls a parent, graphql-core 3.3 cancels the sibling tasks
still running (``graphql.execution.executor.gather_with_cancel``). A task cancelled before its
first step never runs its coroutine, and that coroutine holds the resolver coroutines already
made for the fields below it: Python garbage-collects them unawaited and warns
("coroutine ... was never awaited", graphql-core issue #269). The answer is right, but every
such request leaves warnings in the log, and a resolver's clean-up never runs.

This version waits with ``asyncio.wait`` (which, unlike ``gather``, does not cancel what it
waits on when it is cancelled itself), lets every sibling take its first step, and only then
cancels them, so each coroutine is started and unwinds through its own ``finally`` blocks.
The results and the first failure are what graphql-core's version returns and raises.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Sequence
from typing import Any

from graphql.execution import executor

#: loop turns to wait for siblings to take their first step (one is enough: tasks run in order)
_FIRST_STEP_TURNS = 3


async def gather_with_cancel(*awaitables: Awaitable[Any]) -> list[Any]:
    """The results of ``awaitables`` in order; on the first failure (or if cancelled), every
    sibling still running is cancelled and settled before the failure propagates.
    """
    futures = [asyncio.ensure_future(each) for each in awaitables]
    try:
        _, pending = await asyncio.wait(futures, return_when=asyncio.FIRST_EXCEPTION)
        if pending:
            # the first failure in the order given (several may have failed in one turn)
            raise next(
                e for f in futures if f.done() and not f.cancelled() and (e := f.exception())
            )
        return [f.result() for f in futures]
    except BaseException:
        await _cancel(futures)
        raise


async def _cancel(futures: Sequence[asyncio.Future[Any]]) -> None:
    """Cancel what is still running once each has started, and wait until all are settled."""
    for _ in range(_FIRST_STEP_TURNS):
        if not any(_unstarted(f) for f in futures):
            break
        await asyncio.sleep(0)
    for future in futures:
        future.cancel()  # nothing, once it is done
    await asyncio.gather(*futures, return_exceptions=True)  # every failure retrieved


def _unstarted(future: asyncio.Future[Any]) -> bool:
    """Whether ``future`` is a task whose coroutine has not taken its first step."""
    if future.done() or not isinstance(future, asyncio.Task):
        return False
    coroutine = future.get_coro()
    return inspect.iscoroutine(coroutine) and (
        inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED
    )


def install() -> None:
    """Use this version in graphql-core's executor (checked, so an upgrade that renames the
    function fails at import rather than silently).
    """
    if not hasattr(executor, "gather_with_cancel"):
        raise RuntimeError("graphql-core no longer has executor.gather_with_cancel")
    executor.gather_with_cancel = gather_with_cancel
