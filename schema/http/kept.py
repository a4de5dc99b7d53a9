"""Kept answers served by the bytes of the request: a POST whose body this caller sent
before, byte for byte, is answered from the response cache before anything is parsed (not
the JSON, not the GraphQL document): the caller and the body's SHA-256 lead to the cached
answer's key, the answer is checked against the versions on the board, the bucket is
charged as for any cached answer, and its stored bytes are written with ``extensions.cost``.

A body seen for the first time (or whose answer is not kept) goes the ordinary way with its
bytes handed on; once its answer is kept (or served from the cache) the body's key is
remembered beside it.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive

from app.observability import current_request
from app.platform.versions import Versions
from schema.http.response_cache import ResponseCache
from schema.limits.memory import ByteBudgetLRU
from schema.limits.rate_limit import Limiter, cost_report

#: what remembering one body's key costs (two digests and bookkeeping)
BODY_KEY_BYTES = 200
#: the state entry under which a request's body key travels to the response cache
BODY_KEY = "body_key"


def replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` that first hands on a body already read, then the rest of the messages."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


class KeptAnswers:
    """Body keys to response-cache keys, within a byte budget."""

    def __init__(self, cache: ResponseCache, budget_bytes: int, limit: int) -> None:
        self.cache = cache
        self.keys: ByteBudgetLRU[bytes, str] = ByteBudgetLRU(budget_bytes)
        self.limit = limit

    def remember(self, request: Any, key: str) -> None:
        """The answer kept under ``key`` answers this request's body from now on."""
        state = getattr(request, "scope", {}).get("state", {})
        body_key = state.get(BODY_KEY)
        if body_key is not None:
            self.keys.put(body_key, key, BODY_KEY_BYTES)

    async def answer(
        self,
        request: Request,
        receive: Receive,
        media: str,
        versions: Versions | None,
        limiter: Limiter,
        bucket: str,
    ) -> tuple[Response | None, Receive]:
        """The kept answer to this request, if there is one; and ``receive`` for whoever
        reads the body next (the bytes read here are handed on).
        """
        state = request.scope["state"]
        viewer = state.get("viewer")
        if versions is None or not request.headers.get("content-type", "").startswith(
            "application/json"
        ):
            return None, receive
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: the ordinary way tells
                return None, replay(b"".join(chunks), receive)
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        rest = replay(body, receive)
        who = viewer.account_id if viewer is not None else ""
        body_key = hashlib.sha256(who.encode() + b"\0" + body).digest()
        state[BODY_KEY] = body_key
        key = self.keys.get(body_key)
        entry = (
            None
            if key is None
            else self.cache.get(key, versions.catalogue, versions.account, versions.transition)
        )
        if entry is None:
            return None, rest
        granted, _, _ = limiter.take(bucket, entry.requested)
        if not granted:  # the ordinary way answers the refusal
            return None, rest
        remaining = limiter.give_back(bucket, entry.requested - entry.actual)
        info = current_request()
        if info is not None:
            info.operation = entry.operation  # as the fresh answer was logged
        cost = cost_report(entry.requested, entry.actual, self.limit, remaining)
        content = orjson.dumps({"data": orjson.Fragment(entry.data), "extensions": {"cost": cost}})
        headers = {"Cache-Control": "private, no-store"}
        return Response(content, media_type=media, headers=headers), rest
