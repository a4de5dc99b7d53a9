"""Settings from the environment."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from app.config import Settings, SettingsError, load_settings


def test_defaults() -> None:
    settings = load_settings({})
    assert settings.database_url == "sqlite:///./bcc-images.db"
    assert settings.data_dir == Path("./data")
    assert settings.simulated_clock is False
    assert settings.custom_image_quota == 20


def test_environment_values_are_typed() -> None:
    settings = load_settings(
        {
            "BCC_IMAGES_SIMULATED_CLOCK": "1",
            "BCC_IMAGES_OPERATION_SECONDS": "2.5",
            "BCC_IMAGES_MAX_QUERY_COST": "500",
            "BCC_IMAGES_POSTPAID_MINIMUM_BALANCE": "50.00",
            "BCC_IMAGES_CORS_ORIGINS": "https://a.example, https://b.example",
        }
    )
    assert settings == Settings(
        simulated_clock=True,
        operation_seconds=2.5,
        max_query_cost=500,
        postpaid_minimum_balance=Decimal("50.00"),
        cors_origins=("https://a.example", "https://b.example"),
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BCC_IMAGES_SIMULATED_CLOCK", "maybe"),
        ("BCC_IMAGES_MAX_QUERY_COST", "lots"),
        ("BCC_IMAGES_OPERATION_SECONDS", "-1"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BCC_IMAGES_DATABASE_URL", "mysql://bcc@127.0.0.1/bcc"),
        ("BCC_IMAGES_DATABASE_URL", "postgres://bcc@127.0.0.1/bcc"),
        ("BCC_IMAGES_DATABASE_URL", "bcc-images.db"),
        ("BCC_IMAGES_REDIS_URL", "http://127.0.0.1:6379/0"),
        ("BCC_IMAGES_REDIS_URL", "redis://127.0.0.1:99999/0"),
        ("BCC_IMAGES_REDIS_URL", "redis://"),
        ("BCC_IMAGES_REDIS_URL", "unix://"),
        ("BCC_IMAGES_OBJECT_STORE_URL", "ftp://files.example/images"),
        ("BCC_IMAGES_OBJECT_STORE_URL", "s3://"),
        ("BCC_IMAGES_OBJECT_STORE_URL", "s3://bucket/a//b"),
        ("BCC_IMAGES_OBJECT_STORE_URL", "s3://bucket/../b"),
        ("BCC_IMAGES_OBJECT_STORE_URL", "s3://key:secret@bucket"),
        ("BCC_IMAGES_OBJECT_STORE_URL", "s3://bucket?versioning=1"),
        ("BCC_IMAGES_S3_ENDPOINT_URL", "127.0.0.1:9000"),
        ("BCC_IMAGES_S3_ENDPOINT_URL", "http://127.0.0.1:9000?x=1"),
        ("BCC_IMAGES_CORS_ORIGINS", "https://a.example/path"),
        ("BCC_IMAGES_CORS_ORIGINS", "https://a.example/"),
        ("BCC_IMAGES_CORS_ORIGINS", "https://a.example,console.example"),
        ("BCC_IMAGES_CORS_ORIGINS", "https://a.example:99999"),
        ("BCC_IMAGES_CORS_ORIGINS", "https://user@a.example"),
        ("BCC_IMAGES_CORS_ORIGINS", "*"),
    ],
)
def test_urls_that_cannot_work_are_refused_with_the_variable_named(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"^{name}=") as refused:
        load_settings({name: value})
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BCC_IMAGES_DATABASE_URL", "sqlite:///./bcc-images.db"),
        ("BCC_IMAGES_DATABASE_URL", "sqlite://"),
        ("BCC_IMAGES_DATABASE_URL", "postgresql://bcc@db/bcc"),
        ("BCC_IMAGES_DATABASE_URL", "postgresql+psycopg://bcc:pw@db:5432/bcc?sslmode=require"),
        ("BCC_IMAGES_REDIS_URL", "redis://:pw@cache:6379/0"),
        ("BCC_IMAGES_REDIS_URL", "rediss://cache.example?ssl_cert_reqs=required"),
        ("BCC_IMAGES_REDIS_URL", "unix:///run/redis.sock"),
        ("BCC_IMAGES_OBJECT_STORE_URL", "s3://bcc-images"),
        ("BCC_IMAGES_OBJECT_STORE_URL", "s3://bcc-images/prod/objects/"),
        ("BCC_IMAGES_S3_ENDPOINT_URL", "https://s3.bj.bcebos.com"),
        ("BCC_IMAGES_S3_ENDPOINT_URL", "http://127.0.0.1:9000"),
        ("BCC_IMAGES_CORS_ORIGINS", "https://console.example, http://localhost:5173"),
    ],
)
def test_urls_that_work_are_kept(name: str, value: str) -> None:
    settings = load_settings({name: value})
    assert settings.shown()[name].replace("***", "pw") == value.replace(", ", ",")


def test_a_refused_url_is_shown_with_its_password_masked() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({"BCC_IMAGES_DATABASE_URL": "mysql://bcc:hunter2@db/bcc"})
    assert "hunter2" not in str(refused.value)
    assert "BCC_IMAGES_DATABASE_URL='mysql://bcc:***@db/bcc'" in str(refused.value)
