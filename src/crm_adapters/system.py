"""Small adapters for the ports that are not storage: the clock, passwords and secrets at rest."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from werkzeug.security import check_password_hash, generate_password_hash


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ScryptPasswordHasher:
    """scrypt through werkzeug: salted, memory-hard, self-describing hashes."""

    def hash(self, password: str) -> str:
        return generate_password_hash(password, method="scrypt")

    def verify(self, password_hash: str, password: str) -> bool:
        return check_password_hash(password_hash, password)


class FernetSecretBox:
    """Provider API keys at rest, encrypted with Fernet (AES-128-CBC + HMAC-SHA256)."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ValueError("the secret was encrypted with another key") from None


def load_or_create_key(path: Path) -> str:
    """The key in `path`, generated once (readable by the owner only) when missing."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    path.touch(mode=0o600)
    path.write_text(key + "\n")
    return key
