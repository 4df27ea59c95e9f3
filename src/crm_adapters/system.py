"""Small adapters for the ports that are not storage: the clock, passwords and secrets at rest."""

from __future__ import annotations

import contextlib
import os
import tempfile
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
    """The key in `path`, generated once (readable by the owner only) when missing.

    Created atomically: the key is written to a private temporary file and hard-linked into
    place, which fails when another process got there first; then everyone reads the one
    key that won (several workers starting at once agree on it).
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=".secret-", dir=path.parent)
        try:
            with os.fdopen(descriptor, "w") as file:  # mkstemp makes it 0600
                file.write(Fernet.generate_key().decode() + "\n")
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    return path.read_text().strip()
