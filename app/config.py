"""Settings, read from the environment once (``BCC_IMAGES_<FIELD>``), validated, and passed
explicitly. A bad value stops start-up with one line naming the variable and what is allowed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import SplitResult, urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

PREFIX = "BCC_IMAGES_"
REPO_ROOT = Path(__file__).resolve().parent.parent
#: settings whose values are secrets: shown masked
SECRETS = {"cursor_secret", "secret_key"}

NonNegative = Annotated[float, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]
Count = Annotated[int, Field(ge=1)]
Size = Annotated[int, Field(ge=0)]
Origins = Annotated[tuple[str, ...], NoDecode]
#: the database URLs make_engine knows how to open
DATABASES = ("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg")
DATABASE_EXAMPLE = "sqlite:///path/to/file.db or postgresql+psycopg://user@host:5432/db"


def _seed_dir() -> Path:
    """The seed data shipped with the package (or the checkout's top-level seed_data/)."""
    packaged = Path(__file__).resolve().parent / "seed_data"
    return packaged if packaged.is_dir() else REPO_ROOT / "seed_data"


class SettingsError(ValueError):
    """A setting in the environment has a value that cannot be used."""


class Settings(BaseSettings):
    """Every tunable of the service; each field maps to ``BCC_IMAGES_<FIELD>``."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, frozen=True, extra="ignore", validate_default=True
    )

    database_url: str = "sqlite:///./bcc-images.db"
    data_dir: Path = Path("./data")
    seed_dir: Path = Field(default_factory=_seed_dir)
    operation_seconds: NonNegative = 5.0
    operation_seconds_per_gb: NonNegative = 0.1
    simulated_clock: bool = False
    run_worker: bool = True
    worker_tick_seconds: Positive = 0.5
    scheduler_seconds: Positive = 30.0
    operation_lease_seconds: Positive = 10.0
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    db_pool_size: Count = 20
    db_max_overflow: Size = 40
    db_read_pool_size: Count = 8
    introspection: bool = True
    response_cache: bool = True
    compiled_reads: bool = True
    graphiql: bool = True
    max_body_bytes: Annotated[int, Field(ge=1024)] = 1024 * 1024
    max_upload_bytes: Count = 4 * 1024 * 1024 * 1024
    max_query_depth: Count = 12
    max_aliases: Count = 30
    max_tokens: Count = 5000
    max_query_cost: Count = 1000
    max_fields: Count = 1000
    max_fragment_spreads: Size = 100
    max_repeated_fields: Count = 30
    max_merge_pairs: Count = 5000
    document_cache_bytes: Size = 32 * 1024 * 1024
    rate_limit_points: Count = 10_000
    rate_limit_refill_per_second: NonNegative = 500.0
    custom_image_quota: Size = 20
    share_quota_per_image: Size = 50
    shared_with_me_quota: Size = 20
    postpaid_minimum_balance: Annotated[Decimal, Field(ge=0, decimal_places=2)] = Decimal("100")
    cors_origins: Origins = ()
    storage_quota_bytes: Size = 100 * 1024**3
    object_expiry_days: NonNegative = 1.0  # objects no image needs: a day after the last attempt
    recycle_bin_days: NonNegative = 7.0
    arrears_grace_days: NonNegative = 7.0  # then instances stopped for arrears are released
    body_timeout_seconds: Positive = 30.0
    header_timeout_seconds: Positive = 10.0
    keep_alive_seconds: Positive = 5.0
    max_connections: Count = 1000
    max_connections_per_client: Count = 100
    trusted_proxies: Origins = ()
    max_subscriptions_per_connection: Count = 20
    max_websockets: Count = 1000
    max_websockets_per_client: Count = 20
    websocket_init_seconds: Positive = 10.0
    websocket_idle_seconds: Positive = 60.0
    max_header_bytes: Annotated[int, Field(ge=1024)] = 16 * 1024
    upload_min_bytes_per_second: Size = 256 * 1024
    db_wait_seconds: Positive = 10.0
    cursor_secret: str = ""
    public_cache_seconds: Size = 60
    persisted_query_cache_bytes: Size = 16 * 1024 * 1024
    persisted_query_max_documents: Count = 10_000
    response_cache_bytes: Size = 64 * 1024 * 1024
    token_cache_bytes: Size = 1024 * 1024
    metrics: bool = True
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = 0
    metrics_operations: Origins = ()
    object_store_url: str = ""
    s3_endpoint_url: str = ""
    redis_url: str = ""
    event_fallback_seconds: Positive = 10.0
    secret_key: str = ""
    webhook_allow_http: bool = False
    webhook_allow_private: bool = False
    webhook_allow_hosts: Origins = ()
    webhook_ca_file: str = ""

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "cors_origins",
        "trusted_proxies",
        "metrics_operations",
        "webhook_allow_hosts",
        mode="before",
    )
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        try:
            driver = make_url(value).drivername
        except ArgumentError:
            raise ValueError(f"not a database URL; use {DATABASE_EXAMPLE}") from None
        if driver not in DATABASES:
            raise ValueError(
                f"{driver}:// is not a database this service runs on; use {DATABASE_EXAMPLE}"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str) -> str:
        if value:
            parts = _url(value, ("redis", "rediss", "unix"), "redis://host:6379/0")
            if parts.scheme == "unix" and not parts.path:
                raise ValueError("unix:// needs the socket's path, e.g. unix:///run/redis.sock")
        return value

    @field_validator("object_store_url")
    @classmethod
    def _object_store(cls, value: str) -> str:
        if value:
            parts = urlsplit(value)
            prefix = parts.path.strip("/")
            if (
                parts.scheme != "s3"
                or not re.fullmatch(r"[A-Za-z0-9._-]+", parts.netloc)
                or parts.query
                or parts.fragment
                or (prefix and any(p in ("", ".", "..") for p in prefix.split("/")))
            ):
                raise ValueError("use s3://bucket or s3://bucket/prefix")
        return value

    @field_validator("s3_endpoint_url")
    @classmethod
    def _s3_endpoint(cls, value: str) -> str:
        if value:
            parts = _url(value, ("http", "https"), "https://host[:port]")
            if parts.query or parts.fragment:
                raise ValueError("an endpoint has no query or fragment, e.g. https://host[:port]")
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        example = "https://console.example"
        for origin in value:
            try:
                parts = _url(origin, ("http", "https"), example)
                if origin != f"{parts.scheme}://{parts.netloc}" or "@" in parts.netloc:
                    raise ValueError(f"scheme://host[:port] with nothing after it, e.g. {example}")
            except ValueError as exc:
                raise ValueError(f"{origin!r} is not an origin: {exc}") from None
        return value

    def shown(self) -> dict[str, str]:
        """Every setting as ``BCC_IMAGES_<FIELD>`` with its effective value, secrets masked."""
        values = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in SECRETS and value:
                text = "***"
            elif name.endswith("_url") and value:
                text = masked_url(str(value))
            elif isinstance(value, tuple):
                text = ",".join(value)
            else:
                text = str(value)
            values[PREFIX + name.upper()] = text
        return values


def masked_url(url: str) -> str:
    """A URL with its password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}" if rest else url


def _url(value: str, schemes: tuple[str, ...], example: str) -> SplitResult:
    """``value`` split, when it is a URL of one of ``schemes`` with a host (unix://: a path)
    and a valid port.

    Raises:
        ValueError: what is wrong, with an ``example`` of a good value.
    """
    parts = urlsplit(value)
    allowed = " or ".join(f"{scheme}://" for scheme in schemes)
    if parts.scheme not in schemes:
        raise ValueError(f"the URL must start with {allowed}, e.g. {example}")
    try:
        parts.port  # noqa: B018  (raises for a port that is not 0-65535)
    except ValueError:
        raise ValueError(f"the port is not a number from 0 to 65535, e.g. {example}") from None
    if not parts.hostname and parts.scheme != "unix":
        raise ValueError(f"the URL names no host, e.g. {example}")
    return parts


def _one_line(error: ValidationError, environ: Mapping[str, str]) -> SettingsError:
    """The first problem, as one line naming the variable, its value and what is allowed."""
    detail = error.errors()[0]
    name = str(detail["loc"][0]) if detail["loc"] else "?"
    variable = PREFIX + name.upper()
    raw = environ.get(variable, detail.get("input"))
    shown = "***" if name in SECRETS else raw
    if name.endswith("_url") and isinstance(raw, str):
        shown = masked_url(raw)
    message = str(detail["msg"]).removeprefix("Value error, ")
    return SettingsError(f"{variable}={shown!r} is not a valid value: {message}")


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build Settings from ``BCC_IMAGES_*`` variables (the process environment, or the given
    mapping), then apply keyword overrides.

    Raises:
        SettingsError: a value cannot be used (the message names the variable).
    """
    try:
        if environ is None:
            return Settings(**overrides)
        values = {
            name: environ[PREFIX + name.upper()]
            for name in Settings.model_fields
            if PREFIX + name.upper() in environ
        }
        return Settings.model_validate({**values, **overrides})
    except ValidationError as error:
        raise _one_line(error, os.environ if environ is None else environ) from None
