"""Settings, read from the environment once and passed explicitly."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path

PREFIX = "BCC_IMAGES_"
REPO_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A setting in the environment has a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    """Every tunable of the service; each field maps to ``BCC_IMAGES_<FIELD>``."""

    database_url: str = "sqlite:///./bcc-images.db"
    data_dir: Path = Path("./data")
    seed_dir: Path = REPO_ROOT / "seed_data"
    operation_seconds: float = 5.0
    operation_seconds_per_gb: float = 0.1
    simulated_clock: bool = False
    run_worker: bool = True
    worker_tick_seconds: float = 0.5
    scheduler_seconds: float = 30.0
    operation_lease_seconds: float = 10.0
    log_level: str = "INFO"
    db_pool_size: int = 20
    db_max_overflow: int = 40
    introspection: bool = True
    response_cache: bool = True
    graphiql: bool = True
    max_body_bytes: int = 1024 * 1024
    max_upload_bytes: int = 4 * 1024 * 1024 * 1024
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 5000
    max_query_cost: int = 1000
    max_fields: int = 1000
    max_fragment_spreads: int = 100
    max_repeated_fields: int = 30
    max_merge_pairs: int = 5000
    document_cache_bytes: int = 32 * 1024 * 1024
    rate_limit_points: int = 10_000
    rate_limit_refill_per_second: float = 500.0
    custom_image_quota: int = 20
    share_quota_per_image: int = 50
    shared_with_me_quota: int = 20
    postpaid_minimum_balance: Decimal = Decimal("100")
    cors_origins: tuple[str, ...] = ()
    storage_quota_bytes: int = 100 * 1024**3
    object_expiry_days: float = 7.0
    body_timeout_seconds: float = 30.0
    header_timeout_seconds: float = 10.0
    keep_alive_seconds: float = 5.0
    max_connections: int = 1000
    trusted_proxies: tuple[str, ...] = ()
    max_subscriptions_per_connection: int = 20
    cursor_secret: str = ""
    public_cache_seconds: int = 60
    persisted_query_cache_bytes: int = 16 * 1024 * 1024
    response_cache_bytes: int = 64 * 1024 * 1024
    token_cache_bytes: int = 1024 * 1024


def _parse(name: str, raw: str, default: object) -> object:
    try:
        if isinstance(default, bool):
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            value = float(raw)
            if value < 0:
                raise ValueError(raw)
            return value
        if isinstance(default, Decimal):
            return Decimal(raw)
        if isinstance(default, Path):
            return Path(raw)
        if isinstance(default, tuple):
            return tuple(item.strip() for item in raw.split(",") if item.strip())
    except (ValueError, InvalidOperation) as exc:
        raise SettingsError(f"{PREFIX}{name.upper()}={raw!r} is not a valid value") from exc
    return raw


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build Settings from ``BCC_IMAGES_*`` variables, then apply keyword overrides."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for field in fields(Settings):
        raw = env.get(PREFIX + field.name.upper())
        if raw is not None:
            values[field.name] = _parse(field.name, raw, field.default)
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
