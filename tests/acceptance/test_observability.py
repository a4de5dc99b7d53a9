"""What an operator sees of a real server (R159, R160): answers from the response cache are
counted and logged like any other, errors are counted by code, a caller's traceparent is
continued, an idle process exports no spans, client text in logs is cut and escaped, and the
metrics port listens where the API does.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.acceptance.conftest import QUICK, Server, free_port, own_server

CATALOGUE = "query Catalogue { regions { code } }"


class Collector:
    """An OTLP/HTTP trace receiver: every span it was sent, as (trace id, span id, parent)."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        for span in scope.spans:
                            collector.spans.append(
                                {
                                    "trace": span.trace_id.hex(),
                                    "id": span.span_id.hex(),
                                    "parent": span.parent_span_id.hex(),
                                    "name": span.name,
                                }
                            )
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    found = Collector()
    yield found
    found.close()


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory, collector: Collector) -> Iterator[Server]:
    settings = {
        **QUICK,
        "log_level": "INFO",
        "log_format": "json",
        "metrics_operations": "Catalogue",
        "max_body_bytes": 4096,
        "rate_limit_points": 1_000_000,
        "rate_limit_refill_per_second": 1e6,
    }
    with own_server(tmp_path_factory, "watched", settings, env=_otel(collector)) as server:
        yield server


def _otel(collector: Collector) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }


def metric(server: Server, name: str, **labels: str) -> float:
    """One sample of /metrics (0 when absent)."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{"):
            sample, value = line.rsplit(" ", 1)
            given = sample[len(name) + 1 : -1]
            if ",".join(sorted(given.split(","))) == wanted:
                return float(value)
    return 0.0


def log_lines(server: Server) -> list[dict[str, Any]]:
    assert server.log_path is not None
    lines = []
    for line in server.log_path.read_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def requests_logged(server: Server, since: int, count: int) -> list[dict[str, Any]]:
    """The request lines logged after the first ``since`` lines (waiting for ``count``: a
    line is written once its response has gone).
    """
    deadline = time.monotonic() + 5
    while True:
        found = [line for line in log_lines(server)[since:] if line.get("event") == "request"]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_answers_from_the_cache_are_counted_and_logged_with_their_operation(
    watched: Server,
) -> None:
    before = metric(
        watched, "bcc_images_graphql_requests_total", operation="Catalogue", status="200"
    )
    logged_before = len(log_lines(watched))
    for _ in range(3):  # the first computed, the others from the anonymous response cache
        response = httpx.post(f"{watched.url}/graphql", json={"query": CATALOGUE})
        assert response.status_code == 200
    after = metric(
        watched, "bcc_images_graphql_requests_total", operation="Catalogue", status="200"
    )
    assert after - before == 3
    requests = requests_logged(watched, logged_before, 3)
    assert [line["operation"] for line in requests] == ["Catalogue"] * 3


def test_errors_are_counted_by_code(watched: Server) -> None:
    codes = ["GRAPHQL_VALIDATION_FAILED", "PAYLOAD_TOO_LARGE", "INVALID_INPUT"]
    before = {code: metric(watched, "bcc_images_graphql_errors_total", code=code) for code in codes}
    httpx.post(f"{watched.url}/graphql", json={"query": "{ nope }"})
    httpx.post(f"{watched.url}/graphql", json={"query": "{ regions { code } }", "x": "a" * 5000})
    tenant = watched.account()
    refused = watched.gql(
        'mutation { tagResources(input: {resourceIds: [], tags: [{key: "k", value: "v"}]}) '
        "{ userErrors { code } } }",
        tenant=tenant,
    )["data"]["tagResources"]["userErrors"]
    assert [e["code"] for e in refused] == ["INVALID_INPUT"]
    after = {code: metric(watched, "bcc_images_graphql_errors_total", code=code) for code in codes}
    assert {code: after[code] - before[code] for code in codes} == dict.fromkeys(codes, 1.0)


def test_a_huge_operation_name_is_cut_in_errors_and_logs(watched: Server) -> None:
    name = "B" * 200_000
    logged_before = len(log_lines(watched))
    response = httpx.post(
        f"{watched.url}/graphql",
        json={"query": "query A { __typename }", "operationName": name[:3000]},
    )
    assert response.status_code == 400
    message = response.json()["errors"][0]["message"]
    assert len(message) < 200, message
    [logged] = requests_logged(watched, logged_before, 1)
    assert logged["operation"] == "B" * 64 + "…"


def test_a_callers_traceparent_is_continued_and_an_idle_process_exports_nothing(
    watched: Server, collector: Collector
) -> None:
    # an idle process (its worker polling for due work every half second) exports no spans
    time.sleep(1.0)
    collector.spans.clear()
    time.sleep(2.0)
    assert collector.spans == []
    # a request carrying the caller's W3C traceparent continues the caller's trace
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    response = httpx.post(
        f"{watched.url}/graphql",
        json={"query": CATALOGUE},
        headers={"traceparent": f"00-{trace_id}-{parent_id}-01"},
    )
    assert response.status_code == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not collector.spans:
        time.sleep(0.1)
    time.sleep(0.5)
    spans = list(collector.spans)
    assert spans, "no spans were exported"
    assert {span["trace"] for span in spans} == {trace_id}
    ids = {span["id"] for span in spans}
    roots = [span for span in spans if span["parent"] not in ids]
    assert [root["parent"] for root in roots] == [parent_id]


def test_the_metrics_port_listens_on_the_apis_interface(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    port = free_port()
    settings = {**QUICK, "metrics_port": port}
    with own_server(tmp_path_factory, "metrics-port", settings, admin=None) as server:
        assert "bcc_images_graphql_requests" in httpx.get(f"http://127.0.0.1:{port}/").text
        assert listening_addresses(port) == {"127.0.0.1"}
        assert server.url.startswith("http://127.0.0.1:")


def listening_addresses(port: int) -> set[str]:
    """The local addresses a TCP port is listened on (Linux's /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                if len(address) == 8:
                    found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
                else:
                    found.add("ipv6:" + address)
    return found


def test_text_logs_escape_control_characters(tmp_path_factory: pytest.TempPathFactory) -> None:
    settings = {**QUICK, "log_level": "INFO", "log_format": "text"}
    with own_server(tmp_path_factory, "text-logs", settings, admin=None) as server:
        forged = "A\n2026-01-01T00:00:00Z [error    ] forged line\x1b[31m"
        httpx.post(
            f"{server.url}/graphql",
            json={"query": "query A { __typename }", "operationName": forged},
        )
        time.sleep(0.3)
        assert server.log_path is not None
        text = server.log_path.read_text()
    assert "forged line" in text
    assert not re.search(r"^2026-01-01T00:00:00Z", text, re.MULTILINE)
    assert "\x1b" not in text
