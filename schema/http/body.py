"""A request's body at the edge: how much of it is read and how fast (the rest is refused
before GraphQL runs), uploads refused from their headers, and where a multipart request's
files go (the GraphQL multipart request spec).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.types import Message, Receive

from app.config import Settings
from app.errors import shown
from app.platform.viewer import Viewer
from app.policy import Policy
from app.workflows import objects
from schema.http.refusals import RequestRefused

#: room for a multipart request's other parts (operations, map, boundaries) beside the file
MULTIPART_SLACK = 64 * 1024


class BodyTooLarge(Exception):
    """The request body is larger than the configured limit."""


class BodyTimeout(Exception):
    """The client stopped sending its body, or took longer than the deadline for all of it."""


class BodyTooSlow(Exception):
    """An upload arrived slower than the minimum rate."""


def nesting_problem(value: object, limit: int) -> str | None:
    """What is wrong with how deep JSON-like ``value`` nests (lists and objects), if anything;
    measured without recursion.
    """
    pending: list[tuple[object, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list | tuple):
            if depth >= limit:
                return f"are nested deeper than {limit} levels"
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return None


def is_multipart(request: Request) -> bool:
    """Whether the request is a multipart (upload) request."""
    return request.headers.get("content-type", "").lower().startswith("multipart/")


@dataclass(frozen=True)
class BodyRules:
    """The limits a request body is held to: its size (an upload's is larger) and the time
    between its chunks.
    """

    settings: Settings
    policy: Policy

    def guarded(self, request: Request, receive: Receive) -> Receive:
        """``receive`` with the body size limit and its deadlines: a body must arrive within
        the body timeout in all; an upload, which may be large, instead keeps at least the
        minimum rate over every period of that length (and never pauses for a whole one).
        """
        limit = self.limit(request)
        period = self.settings.body_timeout_seconds
        upload = is_multipart(request)
        minimum = self.settings.upload_min_bytes_per_second * period
        loop = asyncio.get_running_loop()
        started = period_started = loop.time()
        received = in_period = 0

        async def guarded() -> Message:
            nonlocal received, in_period, period_started
            wait = period if upload else started + period - loop.time()
            try:
                if wait <= 0:
                    raise TimeoutError
                message = await asyncio.wait_for(receive(), wait)
            except TimeoutError as exc:
                raise BodyTimeout() from exc
            if message["type"] == "http.request":
                chunk = len(message.get("body", b""))
                received += chunk
                in_period += chunk
                if received > limit:
                    raise BodyTooLarge()
                if upload and loop.time() - period_started >= period:
                    if in_period < minimum and message.get("more_body", False):
                        raise BodyTooSlow(
                            f"The upload arrived slower than "
                            f"{self.settings.upload_min_bytes_per_second} bytes a second."
                        )
                    period_started, in_period = loop.time(), 0
            return message

        return guarded

    def limit(self, request: Request) -> int:
        """The most of this request's body that is read."""
        if is_multipart(request):
            # the other form fields get a little room; the file's own limit is enforced
            # while it is stored, as the UPLOAD_TOO_LARGE userError
            return self.settings.max_upload_bytes + MULTIPART_SLACK
        return self.settings.max_body_bytes

    def too_large(self, request: Request) -> RequestRefused:
        """The refusal of a body over the limit."""
        limit = self.limit(request)
        if is_multipart(request):
            return RequestRefused(
                413,
                "UPLOAD_TOO_LARGE",
                f"Uploads are at most {self.settings.max_upload_bytes} bytes.",
            )
        return RequestRefused(413, "PAYLOAD_TOO_LARGE", f"Request body exceeds {limit} bytes.")

    def refuse_upload(self, session: Session, viewer: Viewer | None, length: int | None) -> None:
        """Refuse an upload from its headers: anonymous, too large, or over the storage quota.

        Raises:
            RequestRefused: answered before any of the body is read.
        """
        if viewer is None:
            raise RequestRefused(
                401,
                "UNAUTHENTICATED",
                "Uploads need an account: send 'Authorization: Bearer <token>'.",
                {"WWW-Authenticate": "Bearer"},
            )
        if length is None:
            return
        if length > self.settings.max_upload_bytes + MULTIPART_SLACK:
            raise RequestRefused(
                413,
                "UPLOAD_TOO_LARGE",
                f"Uploads are at most {self.settings.max_upload_bytes} bytes.",
            )
        problem = objects.quota_problem(
            session=session,
            owner_id=viewer.account_id,
            adding=max(0, length - MULTIPART_SLACK),
            quota=self.policy.storage_quota_bytes,
        )
        if problem is not None:
            raise RequestRefused(413, problem.code.value, problem.message)


def place_files(operations: object, files_map: object, files: Mapping[str, Any]) -> dict[str, Any]:
    """Put each uploaded file where the multipart request's ``map`` says (GraphQL multipart
    request spec): only at ``variables.<name>[.<index>...]`` slots that hold null.

    Raises:
        RequestRefused: BAD_REQUEST for a malformed ``operations`` or ``map``, a path that
            points anywhere else, or a file the form does not hold.
    """
    if not isinstance(operations, dict) or not isinstance(files_map, dict):
        raise RequestRefused(400, "BAD_REQUEST", "'operations' and 'map' must be JSON objects.")
    for field_name, paths in files_map.items():
        if field_name not in files:
            raise RequestRefused(400, "BAD_REQUEST", f"The form holds no file {field_name!r:.40}.")
        if not isinstance(paths, list) or not paths:
            raise RequestRefused(400, "BAD_REQUEST", "Each 'map' entry is a list of paths.")
        for path in paths:
            _place(operations, path, files[field_name])
    return operations


def _place(operations: dict[str, Any], path: object, file: Any) -> None:
    keys = path.split(".") if isinstance(path, str) else []
    if len(keys) < 2 or keys[0] != "variables":
        raise RequestRefused(400, "BAD_REQUEST", f"{shown(str(path))} is not a variables path.")
    target: Any = operations
    for position, key in enumerate(keys):
        last = position == len(keys) - 1
        if isinstance(target, dict) and key in target:
            if last:
                if target[key] is not None:
                    break
                target[key] = file
                return
            target = target[key]
        elif isinstance(target, list) and key.isdigit() and int(key) < len(target):
            if last:
                if target[int(key)] is not None:
                    break
                target[int(key)] = file
                return
            target = target[int(key)]
        else:
            break
    raise RequestRefused(400, "BAD_REQUEST", f"{shown(str(path))} does not name a null variable.")
