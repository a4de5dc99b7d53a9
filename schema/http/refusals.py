"""HTTP refusals written before GraphQL runs: every one is GraphQL JSON with a code."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.observability import count_error

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
#: how much of a refused request's body is read (and dropped) so the client sees the answer
DRAIN_BYTES = 1024 * 1024
DRAIN_SECONDS = 2.0


class RequestRefused(Exception):
    """A request refused at the edge: an HTTP status, a code and a message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def error_body(message: str, code: str, **extensions: Any) -> dict[str, Any]:
    """A GraphQL response holding one request error."""
    return {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}


def refusal_response(refused: RequestRefused, media_type: str = JSON) -> Response:
    """The response for a refused request (counted by its code)."""
    count_error(refused.code)
    return Response(
        orjson.dumps(error_body(refused.message, refused.code)),
        status_code=refused.status,
        media_type=media_type,
        headers=refused.headers,
    )


#: Strawberry's own refusals (HTTPException reasons) and the codes they are reported with
_REASON_CODES = (
    ("JSON", "BAD_REQUEST"),
    ("multipart", "BAD_REQUEST"),
    ("Unsupported content type", "UNSUPPORTED_MEDIA_TYPE"),
    ("only supports GET and POST", "METHOD_NOT_ALLOWED"),
    ("Not Found", "NOT_FOUND"),
)


def code_for(status: int, reason: str) -> str:
    """The code of a refusal Strawberry raised as an HTTPException."""
    for fragment, code in _REASON_CODES:
        if fragment in reason:
            return code
    return {405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE"}.get(
        status, "BAD_REQUEST"
    )


def _media_ranges(accept: str) -> dict[str, float]:
    ranges: dict[str, float] = {}
    for part in accept.split(","):
        pieces = [p.strip() for p in part.split(";")]
        media = pieces[0].lower()
        if not media:
            continue
        q = 1.0
        for param in pieces[1:]:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        ranges[media] = max(q, ranges.get(media, 0.0))
    return ranges


def negotiate(accept: str | None) -> str | None:
    """Pick the response media type for an Accept header; None if nothing acceptable."""
    if not accept:
        return JSON
    ranges = _media_ranges(accept)
    gql = ranges.get(GRAPHQL_RESPONSE, 0.0)
    json_q = ranges.get(JSON, 0.0)
    wildcard = max(ranges.get("*/*", 0.0), ranges.get("application/*", 0.0))
    if gql > 0 and gql >= json_q:
        return GRAPHQL_RESPONSE
    if json_q > 0 or wildcard > 0:
        return JSON
    return None


async def refuse_before_body(
    response: Response, scope: Scope, receive: Receive, send: Send
) -> None:
    """Answer without reading the request body, then close the connection.

    A client that sent ``Expect: 100-continue`` is waiting for our answer and sends nothing
    (no 100 is sent). Any other client is already sending: read and drop at most 1 MiB or
    2 seconds of it so that it sees the answer instead of a reset, then close.
    """
    headers = {k.lower(): v for k, v in scope.get("headers", [])}
    if headers.get(b"expect", b"").lower() != b"100-continue":
        drained = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DRAIN_SECONDS
        while drained < DRAIN_BYTES:
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                message = await asyncio.wait_for(receive(), left)
            except TimeoutError:
                break
            if message["type"] != "http.request":
                break
            drained += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
    response.headers["connection"] = "close"
    await response(scope, receive, send)
