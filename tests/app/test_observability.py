"""What an operator sees: a JSON line per request with its id, operation, caller, duration,
cost and status; Prometheus metrics; OpenTelemetry spans for operations and SQL."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.observability import configure_logging
from tests.factories import Factory

PAGE = "query Catalogue { regions { code } }"


@pytest.fixture
def json_logs(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"log_format": "json"}))) as client:
        yield client
    configure_logging("INFO", "text")


def _lines(text: str) -> list[dict[str, object]]:
    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def test_one_json_line_per_request_with_its_facts(
    json_logs: TestClient, factory: Factory, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = factory.account()
    configure_logging("INFO", "json")  # into this test's captured stderr
    capsys.readouterr()
    response = json_logs.post(
        "/graphql",
        json={"query": PAGE, "operationName": "Catalogue"},
        headers={**tenant.headers, "X-Request-ID": "req-123"},
    )
    assert response.headers["x-request-id"] == "req-123"
    requests = [line for line in _lines(capsys.readouterr().err) if line["event"] == "request"]
    assert len(requests) == 1
    line = requests[0]
    assert line["request_id"] == "req-123"
    assert line["operation"] == "Catalogue"
    assert line["account_id"] == tenant.id
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float)
    assert isinstance(line["cost"], dict) and line["cost"]["requested"] >= 1


def test_a_request_id_is_made_when_the_client_sends_none_or_a_bad_one(
    json_logs: TestClient,
) -> None:
    made = json_logs.post("/graphql", json={"query": PAGE}).headers["x-request-id"]
    assert len(made) == 32
    bad = json_logs.post(
        "/graphql", json={"query": PAGE}, headers={"X-Request-ID": "a b\tc"}
    ).headers["x-request-id"]
    assert bad != "a b\tc" and len(bad) == 32


def test_metrics_in_prometheus_text(settings: Settings, engine: Engine, factory: Factory) -> None:
    allowed = settings.model_copy(update={"metrics_operations": ("Catalogue",)})
    with TestClient(create_app(allowed)) as client:
        client.post("/graphql", json={"query": PAGE, "operationName": "Catalogue"})
        client.post("/graphql", json={"query": "query Secret { regions { code } }"})
        text = client.get("/metrics").text
    assert 'bcc_images_graphql_requests_total{operation="Catalogue",status="200"}' in text
    assert 'bcc_images_graphql_requests_total{operation="other",status="200"}' in text
    assert 'operation="Secret"' not in text  # names not allowed never become labels
    assert "bcc_images_graphql_request_duration_seconds_bucket" in text
    assert "bcc_images_db_pool_checked_out" in text
    for name in ("operations", "settlement_runs", "rate_limited"):
        assert f"# TYPE bcc_images_{name}" in text


def test_metrics_can_be_turned_off(settings: Settings, engine: Engine) -> None:
    with TestClient(create_app(settings.model_copy(update={"metrics": False}))) as client:
        assert client.get("/metrics").status_code == 404


def test_spans_for_the_operation_and_its_sql(settings: Settings, engine: Engine) -> None:
    exporter = InMemorySpanExporter()
    with TestClient(create_app(settings, span_exporter=exporter)) as client:
        client.post("/graphql", json={"query": PAGE, "operationName": "Catalogue"})
    names = [span.name for span in exporter.get_finished_spans()]
    assert any("Catalogue" in name for name in names), names
    assert any(name.startswith(("SELECT", "connect")) for name in names), names
