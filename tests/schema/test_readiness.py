"""/readyz checks every dependency the service uses, and says which one is not ready."""

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


def test_not_ready_when_uploads_could_not_be_stored(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the data directory should be")
    broken = settings.model_copy(update={"data_dir": blocked})
    with TestClient(create_app(broken)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "objectStore": "unavailable"}


def test_redis_is_checked_when_it_is_configured(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    down = settings.model_copy(
        update={"data_dir": tmp_path / "d1", "redis_url": "redis://127.0.0.1:1/0"}
    )
    with TestClient(create_app(down)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == "unavailable"
    up = settings.model_copy(
        update={"data_dir": tmp_path / "d2", "redis_url": "redis://127.0.0.1:6379/0"}
    )
    with TestClient(create_app(up)) as client:
        response = client.get("/readyz")
    assert response.json()["checks"] == {"database": "ok", "objectStore": "ok", "redis": "ok"}
