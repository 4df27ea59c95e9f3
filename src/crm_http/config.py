"""Settings from the environment (and a `.env` file), read once by the composition root."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import attrs
from dotenv import load_dotenv

from crm_adapters.system import load_or_create_key

DEFAULT_DATABASE_URL = "sqlite:///var/crm.sqlite3"
JOB_MODES = ("inline", "db", "dramatiq")
BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps")


class SettingsError(ValueError):
    """A setting the process cannot start with (the message names it)."""


def _fernet_key(secret: str) -> str:
    """Any `CRM_SECRET_KEY` text becomes a valid Fernet key (a Fernet key is used as it is)."""
    try:
        if len(base64.urlsafe_b64decode(secret.encode())) == 32:
            return secret
    except ValueError:
        pass
    return base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()).decode()


def _origins(listed: str) -> frozenset[str]:
    """`CRM_CORS_ORIGINS`: comma-separated; a browser sends an origin without a final slash."""
    return frozenset(part.strip().rstrip("/") for part in listed.split(",") if part.strip())


def _seconds(environ: dict[str, str], name: str, default: float, least: float = 0.001) -> float:
    text = environ.get(name) or ""
    if not text.strip():
        return default
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, not {text!r}") from None
    if value < least:
        raise SettingsError(f"{name} must be at least {least:g} seconds, not {text!r}")
    return value


@attrs.frozen
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    public_url: str = "http://127.0.0.1:8000"
    secret_key: str | None = None
    default_region: str = "RU"
    log_level: str = "INFO"
    var_dir: Path = Path("var")
    # Origins (`https://app.example.com`) whose pages may call the API from a browser.
    cors_origins: frozenset[str] = frozenset()
    # Background jobs: who runs them (`inline`, `db` or `dramatiq`), the broker that wakes
    # workers in `dramatiq` mode, and the timings of leases, sweeps, polls and shutdown.
    jobs: str = "db"
    broker_url: str | None = None
    job_lease_seconds: float = 30.0
    job_sweep_seconds: float = 5.0
    job_poll_seconds: float = 1.0
    job_grace_seconds: float = 20.0
    # `crm serve`: how long a client has to send a whole request (headers and body) from its
    # first byte, and how long an idle connection stays open, before the server closes it.
    http_read_timeout: float = 20.0

    def __attrs_post_init__(self) -> None:
        if self.jobs not in JOB_MODES:
            raise SettingsError(
                f"CRM_JOBS must be one of {', '.join(JOB_MODES)}, not {self.jobs!r}"
            )
        if self.jobs == "dramatiq" and not self.broker_url:
            raise SettingsError(
                "CRM_JOBS=dramatiq needs CRM_BROKER_URL (redis://... or amqp://...)"
            )
        if self.broker_url and self.broker_url.partition("://")[0] not in BROKER_SCHEMES:
            raise SettingsError(
                "CRM_BROKER_URL must be redis://host:port/db or amqp://user:pass@host:port/vhost"
            )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        if environ is None:
            load_dotenv(Path.cwd() / ".env")
            environ = dict(os.environ)
        return cls(
            database_url=environ.get("CRM_DATABASE_URL") or DEFAULT_DATABASE_URL,
            public_url=(environ.get("CRM_PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/"),
            secret_key=environ.get("CRM_SECRET_KEY") or None,
            default_region=(environ.get("CRM_DEFAULT_REGION") or "RU").upper(),
            log_level=(environ.get("CRM_LOG_LEVEL") or "INFO").upper(),
            cors_origins=_origins(environ.get("CRM_CORS_ORIGINS") or ""),
            jobs=(environ.get("CRM_JOBS") or "db").strip().lower(),
            broker_url=environ.get("CRM_BROKER_URL") or None,
            job_lease_seconds=_seconds(environ, "CRM_JOB_LEASE_SECONDS", 30.0),
            job_sweep_seconds=_seconds(environ, "CRM_JOB_SWEEP_SECONDS", 5.0),
            job_poll_seconds=_seconds(environ, "CRM_JOB_POLL_SECONDS", 1.0),
            job_grace_seconds=_seconds(environ, "CRM_JOB_GRACE_SECONDS", 20.0, least=0),
            http_read_timeout=_seconds(environ, "CRM_HTTP_READ_TIMEOUT", 20.0, least=1),
        )

    def encryption_key(self) -> str:
        """`CRM_SECRET_KEY`, or a key generated once into `var/secret.key`."""
        if self.secret_key:
            return _fernet_key(self.secret_key)
        return load_or_create_key(self.var_dir / "secret.key")
