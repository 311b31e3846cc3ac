"""The one settings object, read from environment variables and an optional `.env`.

Every field here is documented in the README's settings table; a test keeps the two in step.
"""

from __future__ import annotations

import ipaddress
import json
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

from rapport.origins import ANY, Origins, parse_origins
from rapport.rate_limits import DEFAULT_RATES, Limit, parse_rates

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Values that look like secrets but are not: refused outside development.
PLACEHOLDER_SECRETS = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "change_me",
        "secret",
        "password",
        "postgres",
        "example",
        "dev",
        "development",
        "insecure",
        "test",
        "xxx",
        "todo",
        "default",
    }
)
DEV_SECRET_KEY = "development-only-secret-key-do-not-use-in-production"  # noqa: S105
OWASP_ARGON2_MIN_MEMORY_KIB = 19 * 1024
OWASP_ARGON2_MIN_TIME_COST = 2


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


OtelExporter = Literal["otlp", "console"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RAPPORT_", env_file=".env", extra="ignore", frozen=True
    )

    env: Environment = Environment.DEVELOPMENT
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "RAPPORT_DATABASE_URL")
    )
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "RAPPORT_REDIS_URL")
    )
    data_dir: Path = PROJECT_ROOT / "var"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Processes `rapport serve` runs on one socket; more than one needs REDIS_URL.
    workers: int = Field(default=1, ge=1, le=64)
    # Addresses of reverse proxies whose X-Forwarded-For/-Proto to believe (uvicorn's
    # forwarded-allow-ips): comma-separated IPs or networks, or "*". Unset: believe none.
    forwarded_allow_ips: str | None = None
    # Origins whose pages may call the API and open websockets (rapport/origins.py), comma-
    # separated; unset: every port of localhost/127.0.0.1/[::1], except in production: none.
    cors_origins: str | None = None
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    token_ttl_days: int = Field(default=30, ge=1, le=365)
    argon2_time_cost: int = Field(default=OWASP_ARGON2_MIN_TIME_COST, ge=OWASP_ARGON2_MIN_TIME_COST)
    argon2_memory_kib: int = Field(
        default=OWASP_ARGON2_MIN_MEMORY_KIB, ge=OWASP_ARGON2_MIN_MEMORY_KIB
    )
    argon2_parallelism: int = Field(default=1, ge=1, le=16)
    default_page_size: int = Field(default=20, ge=1)
    max_page_size: int = Field(default=100, ge=1, le=1000)
    # Nodes one request's connections may return, counted as GitHub does (schema/limits.py).
    max_query_nodes: int = Field(default=1_000, ge=1)
    # Largest request body (HTTP) and websocket frame, in bytes; refused before any parsing.
    max_body_bytes: int = Field(default=1_048_576, ge=4096, le=64 * 1_048_576)
    db_pool_size: int = Field(default=10, ge=1, le=200)
    viewer_cache_ttl_s: float = Field(default=30.0, ge=0, le=300)
    # Events a live subscription may have waiting; past that it is told to re-read instead.
    subscription_queue_size: int = Field(default=256, ge=8, le=100_000)
    max_subscriptions_per_connection: int = Field(default=20, ge=1, le=1000)
    connection_init_timeout_s: float = Field(default=10.0, gt=0, le=300)
    # Slow and idle clients (README: "Slow and idle clients"). Websockets of one client address
    # that have connected but not sent connection_init yet; one more is closed with 4429.
    max_uninitialised_websockets_per_address: int = Field(default=10, ge=1, le=10_000)
    # An HTTP request's headers must arrive within this of its first byte (or of the
    # connection's opening), and its body within body_timeout_s of the headers' end.
    header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    body_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    # Connections (HTTP and websocket) one process serves at once; beyond it, 503.
    max_connections: int = Field(default=1000, ge=1, le=1_000_000)
    # Password hashing (argon2): threads per process (unset: the CPUs this process may use),
    # and hashes that may wait for one; unset: as many as those threads finish in
    # password_hash_max_wait_s at the cost of one hash measured at start-up.
    password_hash_threads: int | None = Field(default=None, ge=1, le=256)
    password_hash_queue: int | None = Field(default=None, ge=0, le=100_000)
    password_hash_max_wait_s: float = Field(default=1.0, gt=0, le=60)
    graphiql: bool = True
    # GraphQL introspection (GraphiQL needs it); unset: on, except when RAPPORT_ENV=production.
    introspection: bool | None = None
    log_format: LogFormat = LogFormat.TEXT
    log_level: str = "INFO"
    log_requests: bool = True
    shutdown_timeout_s: float = Field(default=10.0, ge=0)
    # Unset: emails wait in the outbox table (and, in development, are written to the log).
    smtp_url: str | None = None
    mail_from: str = "Rapport <no-reply@localhost>"
    # JSON object; names not given keep their defaults (rapport/rate_limits.py DEFAULT_RATES).
    # NoDecode: parsed by _rates_json, which says what is wrong in malformed JSON.
    rate_limits: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    # Which encoder variant: auto (the fastest that passes its check on this CPU), int8-s8,
    # int8-u8, fp32 (ONNX) or torch (plain sentence-transformers). See matching/encoder_build.py.
    encoder: str = "auto"
    # GET /metrics (rapport/metrics.py): served to these networks (comma-separated; unset:
    # loopback, except in production: nobody), and to any address with this bearer token.
    metrics: bool = True
    metrics_allow_from: str | None = None
    metrics_token: SecretStr | None = None
    # OpenTelemetry: a span per GraphQL operation, exported as the OTEL_* variables say.
    otel: bool = False
    otel_traces_exporter: OtelExporter = Field(
        default="otlp",
        validation_alias=AliasChoices("OTEL_TRACES_EXPORTER", "RAPPORT_OTEL_TRACES_EXPORTER"),
    )

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        url = make_url(value)
        if url.get_backend_name() not in ("postgresql", "postgres"):
            raise ValueError("DATABASE_URL must point to PostgreSQL (postgresql+asyncpg://...)")
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+asyncpg")
        elif url.drivername != "postgresql+asyncpg":
            raise ValueError("DATABASE_URL must use the asyncpg driver (postgresql+asyncpg://...)")
        return url.render_as_string(hide_password=False)

    @field_validator("encoder")
    @classmethod
    def _known_encoder(cls, value: str) -> str:
        from matching.encoder_build import AUTO, VARIANTS

        if value not in (AUTO, *VARIANTS):
            raise ValueError(
                f"RAPPORT_ENCODER must be one of {AUTO}, {', '.join(VARIANTS)} (got {value!r})"
            )
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("smtp://", "smtps://")):
            raise ValueError("RAPPORT_SMTP_URL must look like smtp://user:pass@host:587")
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxy_addresses(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        for entry in entries:
            if entry == "*":
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/8, *)"
                ) from None
        return ",".join(entries)

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return ",".join(parse_origins(value))

    @field_validator("rate_limits", mode="before")
    @classmethod
    def _rates_json(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if not value.strip():
            return {}
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise ValueError(
                f"not valid JSON ({exc}); expected an object like "
                '\'{"messages_per_minute": "30/minute"}\''
            ) from None
        if not isinstance(parsed, dict):
            raise ValueError(
                f"expected a JSON object of name: rates, got {type(parsed).__name__} {value!r}"
            )
        return parsed

    @field_validator("rate_limits")
    @classmethod
    def _known_rates(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - {limit.value for limit in Limit})
        if unknown:
            raise ValueError(
                f"unknown rate limit(s) {', '.join(unknown)}; known: "
                + ", ".join(limit.value for limit in Limit)
            )
        for name, rates in value.items():
            try:
                parse_rates(rates)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        return {**{k.value: v for k, v in DEFAULT_RATES.items()}, **value}

    @field_validator("metrics_allow_from")
    @classmethod
    def _networks(cls, value: str | None) -> str | None:
        if value is None:
            return None
        for part in filter(None, (p.strip() for p in value.split(","))):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(
                    f"RAPPORT_METRICS_ALLOW_FROM: {part!r} is not an address or network "
                    "(e.g. 10.0.0.0/8, ::1)"
                ) from None
        return value

    @field_validator("metrics_token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < 16:
            raise ValueError("RAPPORT_METRICS_TOKEN must be at least 16 characters")
        return value

    @model_validator(mode="after")
    def _no_placeholders_outside_development(self) -> Settings:
        if self.default_page_size > self.max_page_size:
            raise ValueError("RAPPORT_DEFAULT_PAGE_SIZE must not exceed RAPPORT_MAX_PAGE_SIZE")
        if self.env is Environment.DEVELOPMENT:
            return self
        if self.env is Environment.PRODUCTION and self.cors_origins == ANY:
            raise ValueError(
                "RAPPORT_CORS_ORIGINS=* is refused when RAPPORT_ENV=production: list the "
                "origins of your web apps (e.g. https://app.example.com)"
            )
        key = self.secret_key.get_secret_value()
        if key == DEV_SECRET_KEY or key.lower() in PLACEHOLDER_SECRETS or len(key) < 32:
            raise ValueError(
                f"RAPPORT_SECRET_KEY must be set to a random value of at least 32 characters "
                f"when RAPPORT_ENV={self.env.value} (try: python -c 'import secrets; "
                f"print(secrets.token_urlsafe(48))')"
            )
        for name, url in (
            ("DATABASE_URL", self.database_url),
            ("REDIS_URL", self.redis_url),
            ("RAPPORT_SMTP_URL", self.smtp_url),
        ):
            if url:
                password = make_url(url).password if name == "DATABASE_URL" else _url_password(url)
                if password is not None and str(password).lower() in PLACEHOLDER_SECRETS:
                    raise ValueError(f"{name} uses a placeholder password outside development")
        return self

    @cached_property
    def metrics_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """Who may read /metrics without the token (RAPPORT_METRICS_ALLOW_FROM)."""
        if self.metrics_allow_from is None:
            default = "" if self.env is Environment.PRODUCTION else "127.0.0.0/8,::1"
            value = default
        else:
            value = self.metrics_allow_from
        return tuple(
            ipaddress.ip_network(part, strict=False)
            for part in filter(None, (p.strip() for p in value.split(",")))
        )

    @cached_property
    def cors(self) -> Origins:
        """Whose pages may use the API from another origin (RAPPORT_CORS_ORIGINS)."""
        if self.cors_origins is None:
            return Origins(loopback=self.env is not Environment.PRODUCTION)
        return Origins(listed=frozenset(filter(None, self.cors_origins.split(","))))

    @property
    def embedded(self) -> bool:
        """True when Rapport runs its own PostgreSQL (no DATABASE_URL given)."""
        return self.database_url is None

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def models_dir(self) -> Path:
        """Where the quantised encoder built from the packaged model is kept."""
        return self.data_dir / "models"

    def with_database_url(self, url: str) -> Settings:
        return self.model_copy(update={"database_url": self._async_driver(url)})


def _url_password(url: str) -> str | None:
    from urllib.parse import urlsplit

    return urlsplit(url).password
