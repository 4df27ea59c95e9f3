"""Sign-in throttling, a user's own password change and deactivation, over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

from flask.testing import FlaskClient


def an_address() -> str:
    """A client address of its own: tests sharing the app must not share failure counts."""
    number = uuid.uuid4().int
    return f"10.{number % 250}.{number // 250 % 250}.{number // 62500 % 250 + 1}"


def sign_in(client: FlaskClient, email: str, password: str, address: str) -> Any:
    return client.post(
        "/api/auth/token/",
        json={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def new_user(client: FlaskClient, auth: dict[str, str], password: str = "password1") -> str:
    email = f"user-{uuid.uuid4().hex[:8]}@example.com"
    created = client.post(
        "/api/crm/users/", json={"email": email, "password": password}, headers=auth
    )
    assert created.status_code == 201, created.get_json()
    return email


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_after_ten_failures_for_an_email_sign_in_answers_429_with_retry_after(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    email, address = new_user(client, auth), an_address()
    for _ in range(10):
        assert sign_in(client, email, "wrong-password", address).status_code == 401

    refused = sign_in(client, email, "password1", an_address())

    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    assert refused.get_json()["status"] == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60


def test_after_fifty_failures_from_one_address_every_email_is_refused_from_it(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    email, address = new_user(client, auth), an_address()
    for number in range(50):
        guess = sign_in(client, f"guess-{number}-{email}", "wrong-password", address)
        assert guess.status_code == 401

    assert sign_in(client, email, "password1", address).status_code == 429
    assert sign_in(client, email, "password1", an_address()).status_code == 200


def test_a_user_changes_their_own_password_and_keeps_only_this_session(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    email, address = new_user(client, auth), an_address()
    other = sign_in(client, email, "password1", address).get_json()["token"]
    this = sign_in(client, email, "password1", address).get_json()["token"]

    changed = client.patch(
        "/api/crm/users/me/",
        json={"current_password": "password1", "password": "new-password"},
        headers=bearer(this),
    )

    assert changed.status_code == 200
    assert changed.get_json()["email"] == email
    assert "password" not in changed.get_json()
    assert client.get("/api/crm/users/me/", headers=bearer(this)).status_code == 200
    assert client.get("/api/crm/users/me/", headers=bearer(other)).status_code == 401
    assert sign_in(client, email, "password1", address).status_code == 401
    assert sign_in(client, email, "new-password", address).status_code == 200


def test_a_wrong_current_password_is_a_400_on_current_password(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    email = new_user(client, auth)
    token = sign_in(client, email, "password1", an_address()).get_json()["token"]

    wrong = client.patch(
        "/api/crm/users/me/",
        json={"current_password": "not-it", "password": "new-password"},
        headers=bearer(token),
    )
    missing = client.patch("/api/crm/users/me/", json={"password": "x"}, headers=bearer(token))

    assert wrong.status_code == 400
    assert list(wrong.get_json()["errors"]) == ["current_password"]
    assert missing.status_code == 400
    assert set(missing.get_json()["errors"]) == {"current_password", "password"}


def test_deactivating_a_user_revokes_their_tokens(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    email = new_user(client, auth)
    token = sign_in(client, email, "password1", an_address()).get_json()["token"]
    user_id = client.get("/api/crm/users/me/", headers=bearer(token)).get_json()["id"]

    deactivated = client.patch(
        f"/api/crm/users/{user_id}/", json={"is_active": False}, headers=auth
    )
    client.put(f"/api/crm/users/{user_id}/", json={"is_active": True}, headers=auth)

    assert deactivated.status_code == 200 and deactivated.get_json()["is_active"] is False
    assert client.get("/api/crm/users/me/", headers=bearer(token)).status_code == 401


def test_the_openapi_document_describes_the_own_password_change(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()

    operation = document["paths"]["/api/crm/users/me/"]["patch"]

    assert "400" in operation["responses"]
    assert "get" in document["paths"]["/api/crm/users/me/"]
