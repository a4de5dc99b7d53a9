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
