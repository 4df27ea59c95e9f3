"""Users as admins manage them over HTTP."""

from __future__ import annotations

import uuid

from flask.testing import FlaskClient


def test_a_new_password_signs_the_user_out_everywhere(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    email = f"anna-{uuid.uuid4().hex[:6]}@example.com"
    user = client.post(
        "/api/crm/users/", json={"email": email, "password": "old-password"}, headers=auth
    ).get_json()
    token = client.post(
        "/api/auth/token/", json={"email": email, "password": "old-password"}
    ).get_json()["token"]
    theirs = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/crm/users/me/", headers=theirs).status_code == 200

    changed = client.patch(
        f"/api/crm/users/{user['id']}/", json={"password": "new-password"}, headers=auth
    )

    assert changed.status_code == 200
    assert client.get("/api/crm/users/me/", headers=theirs).status_code == 401
    assert client.get("/api/crm/users/me/", headers=auth).status_code == 200
    again = client.post("/api/auth/token/", json={"email": email, "password": "new-password"})
    assert again.status_code == 200


def test_a_manager_cannot_manage_users(client: FlaskClient, auth: dict[str, str]) -> None:
    email = f"manager-{uuid.uuid4().hex[:6]}@example.com"
    client.post(
        "/api/crm/users/",
        json={"email": email, "password": "password1", "role": "manager"},
        headers=auth,
    )
    token = client.post(
        "/api/auth/token/", json={"email": email, "password": "password1"}
    ).get_json()["token"]

    response = client.post(
        "/api/crm/users/",
        json={"email": f"x-{email}", "password": "password1"},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 403
