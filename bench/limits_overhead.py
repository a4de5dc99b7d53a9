"""P14: what the request limits (size, depth, aliases, cost, the cost bucket and the
``extensions.cost`` report) add to the image page, timed in process.

The service has no switch for its limits, so this builds the schema three times with
``schema.build_schema`` and changes only the built objects' extension lists (schema/ is not
touched):

- ``limits``: the schema exactly as the service builds it;
- ``no-checks``: ``RequestLimits`` replaced by :class:`DocumentsOnly`, which keeps its document
  cache (parse once, validate once) and drops every check, the bucket and the cost report; the
  difference to ``limits`` is what the limits cost (the P14 verdict);
- ``removed``: ``RequestLimits`` removed altogether, so Strawberry parses and validates the page
  on every request (shown for scale: what the document cache saves).

Each iteration runs ``schema.execute`` of the signed-in page once per variant (rotating the
order), each with a fresh request context, and the p50/p99 of each variant are reported.
In process there is no HTTP or JSON encoding, so the share is an upper bound on the share of
an HTTP request's p50.

Usage: .venv/bin/python -m bench.run --limits-overhead [--database-url URL] [--images N]
       [--requests 2000]
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from strawberry import Schema
from strawberry.extensions import SchemaExtension

from app.config import Settings
from app.database import read_session
from schema import build_schema
from schema.limits.extension import DocumentCache, RequestLimits, validation_rules

VARIANTS = ("limits", "no-checks", "removed")


class DocumentsOnly(RequestLimits):
    """``RequestLimits`` without its limits: the cached parse and the cached validation stay,
    the shape checks, the cost, the bucket and ``extensions.cost`` go."""

    def on_validate(self) -> Iterator[None]:
        """Cached validation only."""
        ctx = self.execution_context
        entry = self.entry
        if entry is not None and ctx.graphql_document is entry.document:
            errors = self.cache.validation_errors(entry, ctx.schema._schema)
            ctx.pre_execution_errors = list(errors)  # Strawberry does not validate again
        yield

    def on_execute(self) -> Iterator[None]:
        """No actual cost to compute, nothing to give back."""
        yield

    def get_results(self) -> dict[str, Any]:
        """No ``extensions.cost``."""
        return {}


Factory = type[SchemaExtension] | Callable[[], SchemaExtension]


def _is_limits(extension: Factory) -> bool:
    """Whether an entry of a schema's extension list builds the RequestLimits extension."""
    if isinstance(extension, type):
        return issubclass(extension, RequestLimits)
    return isinstance(extension(), RequestLimits)


def variants(settings: Settings) -> dict[str, Schema]:
    """The three schemas, built by the service's own ``build_schema``."""
    built = {name: build_schema(settings) for name in VARIANTS}
    documents = DocumentCache(
        settings.document_cache_bytes, validation_rules(settings.introspection)
    )
    for name in ("no-checks", "removed"):
        schema = built[name]
        kept: list[Factory] = []
        found = False
        for extension in schema.extensions:
            if _is_limits(extension):
                found = True
                if name == "no-checks":
                    kept.append(lambda: DocumentsOnly(documents))
            else:
                kept.append(extension)
        if not found:
            raise RuntimeError("build_schema no longer adds RequestLimits: update this bench")
        schema.extensions = tuple(kept)
    return built


ContextFactory = Callable[[], Awaitable[Any]]


def _graphql_view(settings: Settings) -> Any:
    """The service's GraphQL view, as ``create_app`` wires it (its lifespan is not run)."""
    from app.main import create_app

    for route in create_app(settings).routes:
        endpoint = getattr(route, "endpoint", None)
        if getattr(route, "path", None) == "/graphql" and hasattr(endpoint, "get_context"):
            return endpoint
    raise RuntimeError("create_app no longer routes /graphql to a view with get_context")


def _contexts(view: Any, viewer: Any) -> ContextFactory:
    """A fresh request context per call, built by the view itself for a signed-in request
    (the view reads the viewer its edge authenticated from the request's state)."""

    async def make() -> Any:
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/graphql",
            "headers": [],
            "query_string": b"",
            "client": ("127.0.0.1", 0),
            "state": {"viewer": viewer},
        }
        return await view.get_context(Request(scope), Response())

    return make


async def _time(
    schemas: dict[str, Schema], make_context: ContextFactory, query: str, n: int
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in schemas}
    names = list(schemas)
    for i in range(n):
        order = names[i % len(names) :] + names[: i % len(names)]
        for name in order:
            context = await make_context()
            started = time.perf_counter()
            result = await schemas[name].execute(query, context_value=context)
            elapsed = (time.perf_counter() - started) * 1000
            if result.errors:
                raise RuntimeError(f"{name}: {result.errors}")
            samples[name].append(elapsed)
    return samples


def measure(settings: Settings, token: str, query: str, requests: int) -> list[dict[str, Any]]:
    """p50 and p99 (ms) of ``schema.execute`` of ``query`` for each variant, interleaved."""
    from app.accounts import service as accounts_service

    view = _graphql_view(settings)
    engine = view.services.engine
    with read_session(engine) as session:
        viewer = accounts_service.authenticate(session=session, token=token)
    if viewer is None:
        raise RuntimeError("the bench token does not authenticate")
    schemas = variants(settings)
    make_context = _contexts(view, viewer)
    asyncio.run(_time(schemas, make_context, query, 30))  # warm
    gc.collect()
    gc.freeze()  # as the service does after start-up
    samples = asyncio.run(_time(schemas, make_context, query, requests))
    engine.dispose()
    rows = []
    for name, values in samples.items():
        ordered = sorted(values)
        rows.append(
            {
                "variant": name,
                "n": len(values),
                "p50_ms": round(statistics.median(ordered), 4),
                "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 4),
            }
        )
    return rows
