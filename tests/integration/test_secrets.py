"""API keys at rest: the SecretBox adapter, and where its key comes from (CRM_SECRET_KEY, or
`var/secret.key` generated once)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from crm_adapters.system import FernetSecretBox
from crm_http.config import Settings


def test_a_secret_comes_back_as_it_went_in_and_is_not_stored_in_clear(tmp_path: Path) -> None:
    box = FernetSecretBox(Settings(var_dir=tmp_path).encryption_key())

    sealed = box.encrypt("wazzup-api-key-123")

    assert "wazzup-api-key-123" not in sealed
    assert box.decrypt(sealed) == "wazzup-api-key-123"


def test_another_key_cannot_open_it(tmp_path: Path) -> None:
    sealed = FernetSecretBox(Settings(secret_key="one").encryption_key()).encrypt("key")

    with pytest.raises(ValueError, match="another key"):
        FernetSecretBox(Settings(secret_key="two").encryption_key()).decrypt(sealed)


def test_without_crm_secret_key_a_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = Settings(var_dir=tmp_path / "var").encryption_key()

    again = Settings(var_dir=tmp_path / "var").encryption_key()

    assert first == again
    key_file = tmp_path / "var" / "secret.key"
    assert key_file.read_text().strip() == first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_any_crm_secret_key_text_is_a_stable_key_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where `var/` would be created
    settings = Settings.from_env({"CRM_SECRET_KEY": "just a passphrase"})

    assert settings.encryption_key() == settings.encryption_key()
    assert (
        FernetSecretBox(settings.encryption_key()).decrypt(
            FernetSecretBox(settings.encryption_key()).encrypt("x")
        )
        == "x"
    )
    assert not (tmp_path / "var").exists()
