"""/readyz checks every dependency the service uses and says which one is not ready: only the
database makes the service unavailable (503); the object store or Redis down degrade it (200,
"degraded"), since everything else keeps working (R156, R197)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app


def test_ready_when_the_database_and_the_object_store_work(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    usable = settings.model_copy(update={"data_dir": tmp_path / "data"})
    with TestClient(create_app(usable)) as client:
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "objectStore": "ok"},
    }


def test_degraded_when_uploads_could_not_be_stored(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the data directory should be")
    broken = settings.model_copy(update={"data_dir": blocked})
    with TestClient(create_app(broken)) as client:
        response = client.get("/readyz")
        answered = client.post("/graphql", json={"query": "{ regions { code } }"})
    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "checks": {"database": "ok", "objectStore": "unavailable"},
    }
    assert answered.status_code == 200
    assert answered.json()["data"]["regions"]


def test_redis_is_checked_when_it_is_configured(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    down = settings.model_copy(
        update={"data_dir": tmp_path / "d1", "redis_url": "redis://127.0.0.1:1/0"}
    )
    with TestClient(create_app(down)) as client:
        response = client.get("/readyz")
        answered = client.post("/graphql", json={"query": "{ regions { code } }"})
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["redis"] == "unavailable"
    # requests are still answered, on this process's own rate-limit buckets
    assert answered.status_code == 200
    assert answered.json()["extensions"]["cost"]["remaining"] > 0
    up = settings.model_copy(
        update={"data_dir": tmp_path / "d2", "redis_url": "redis://127.0.0.1:6379/0"}
    )
    with TestClient(create_app(up)) as client:
        response = client.get("/readyz")
    assert response.json()["checks"] == {"database": "ok", "objectStore": "ok", "redis": "ok"}
