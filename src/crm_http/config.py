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
        )

    def encryption_key(self) -> str:
        """`CRM_SECRET_KEY`, or a key generated once into `var/secret.key`."""
        if self.secret_key:
            return _fernet_key(self.secret_key)
        return load_or_create_key(self.var_dir / "secret.key")
