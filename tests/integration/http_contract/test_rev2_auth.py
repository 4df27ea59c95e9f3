"""[rev 2] Section 2: 429 on password guessing, a user's own password change, deactivation
revoking tokens, and an owner that must be an active user of the company.

Every test here works on users of a company of its own, so no other test is locked out and
the shared companies keep their users."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from .checks import problem
from .conftest import Api, Server

PASSWORD = "Старый-пароль-1!"
NEW_PASSWORD = "Новый-пароль-2026!"


def fresh_email(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:10]}@example.com"


def fresh_company() -> str:
    return f"ООО Отдельная {uuid.uuid4().hex[:8]}"


def login(server: Server, email: str, password: str) -> httpx.Response:
    """One attempt on a fresh connection, so attempts spread over the worker processes."""
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        return client.post("/api/auth/token/", json={"email": email, "password": password})


def token_of(server: Server, email: str, password: str) -> str:
    r = login(server, email, password)
    assert r.status_code in (200, 201), r.text
    return str(r.json()["token"])


def status_with(server: Server, token: str) -> int:
    with Api(server.base_url, token) as client:
        return client.get("users/me/").status_code


@pytest.fixture(scope="module")
def users(server: Server) -> dict[str, Any]:
    """Made with `crm create-user` (slow: as few as can be, concurrently), in companies of
    their own: an admin (whose password is also the one guessed: his CLI token is all the
    other tests use) and a manager to be deactivated; a manager who changes his password."""
    emails = {k: fresh_email(k) for k in ("boss", "leaver", "changer")}
    shared = fresh_company()

    def boss_and_leaver() -> tuple[str, str]:
        boss = server.create_user(shared, emails["boss"], PASSWORD, "admin")
        return boss, server.create_user(shared, emails["leaver"], PASSWORD, "manager")

    with ThreadPoolExecutor(max_workers=2) as pool:
        pair = pool.submit(boss_and_leaver)
        changer = pool.submit(
            server.create_user, fresh_company(), emails["changer"], PASSWORD, "manager"
        )
        boss, leaver = pair.result()
        tokens = {"boss": boss, "leaver": leaver, "changer": changer.result()}
    return {
        "emails": emails,
        "tokens": tokens,
        "passwords": dict.fromkeys(emails, PASSWORD),
    }


# ----------------------------------------------------------------------------- 429


def test_given_ten_failed_logins_for_one_email_then_the_eleventh_and_the_right_one_are_429(
    server: Server, users: dict[str, Any]
) -> None:
    email = users["emails"]["boss"]
    for attempt in range(1, 11):
        problem(login(server, email, f"wrong-guess-{attempt}"), 401)
    r = login(server, email, "wrong-guess-11")
    problem(r, 429)
    retry_after = r.headers.get("retry-after")
    assert retry_after is not None and retry_after.strip().isdigit(), r.headers
    assert 0 < int(retry_after) <= 15 * 60, retry_after
    right = login(server, email, PASSWORD)
    problem(right, 429)
    assert "retry-after" in right.headers, right.headers
    # the limit is per email: another user (same client address) still logs in
    changer = users["emails"]["changer"]
    assert login(server, changer, users["passwords"]["changer"]).status_code in (200, 201)


# ----------------------------------------------------------------------------- own password


def test_given_a_wrong_current_password_then_400_on_current_password_and_nothing_changes(
    server: Server, users: dict[str, Any]
) -> None:
    email, password = users["emails"]["changer"], users["passwords"]["changer"]
    other_token = token_of(server, email, password)
    with Api(server.base_url, users["tokens"]["changer"]) as client:
        r = client.patch(
            "users/me/", json={"current_password": "not-the-password", "password": "Другой-1!"}
        )
        problem(r, 400, "current_password")
    assert status_with(server, other_token) == 200
    assert status_with(server, users["tokens"]["changer"]) == 200
    assert token_of(server, email, password)


def test_given_a_manager_when_changing_the_own_password_then_200_and_tokens_follow_the_rule(
    server: Server, users: dict[str, Any]
) -> None:
    email, old = users["emails"]["changer"], users["passwords"]["changer"]
    other_token = token_of(server, email, old)  # made with POST /api/auth/token/ beforehand
    with Api(server.base_url, users["tokens"]["changer"]) as client:
        r = client.patch("users/me/", json={"current_password": old, "password": NEW_PASSWORD})
        assert r.status_code == 200, r.text
        users["passwords"]["changer"] = NEW_PASSWORD
        assert not any("password" in k or "hash" in k for k in r.json())
        assert client.get("users/me/").status_code == 200, "the token used must stay valid"
    problem(Api(server.base_url, other_token).get("users/me/"), 401)
    assert token_of(server, email, NEW_PASSWORD)
    problem(login(server, email, old), 401)


# ----------------------------------------------------------------------------- deactivation


@pytest.fixture(scope="module")
def company(server: Server, users: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The boss deactivates the leaver, who holds two tokens (CLI and API)."""
    admin = Api(server.base_url, users["tokens"]["boss"])
    leaver_tokens = [
        users["tokens"]["leaver"],
        token_of(server, users["emails"]["leaver"], PASSWORD),
    ]
    by_email = {u["email"]: u for u in admin.list("users")["results"]}
    leaver = by_email[users["emails"]["leaver"]]
    assert all(status_with(server, t) == 200 for t in leaver_tokens)
    r = admin.patch(f"users/{leaver['id']}/", json={"is_active": False})
    yield {"admin": admin, "leaver": leaver, "tokens": leaver_tokens, "deactivation": r}
    admin.close()


def test_given_an_admin_when_deactivating_a_user_then_200_and_every_token_is_401(
    server: Server, company: dict[str, Any]
) -> None:
    r = company["deactivation"]
    assert r.status_code == 200, r.text
    assert r.json()["is_active"] is False
    for token in company["tokens"]:
        problem(Api(server.base_url, token).get("users/me/"), 401)
    users = {u["id"]: u for u in company["admin"].list("users")["results"]}
    assert users[company["leaver"]["id"]]["is_active"] is False


# ----------------------------------------------------------------------------- inactive owners


@pytest.fixture(scope="module")
def records(company: dict[str, Any]) -> dict[str, Any]:
    admin: Api = company["admin"]
    assert company["deactivation"].status_code == 200, company["deactivation"].text
    funnel = admin.funnel()
    contact = admin.contact()
    return {
        "funnel": funnel,
        "contact": contact,
        "lead": admin.lead(contact, funnel),
        "deal": admin.deal(contact, funnel),
    }


def test_given_an_inactive_owner_when_creating_a_contact_then_400_on_owner(
    company: dict[str, Any], records: dict[str, Any]
) -> None:
    admin: Api = company["admin"]
    body = {"first_name": "Иван", "phone": "+79990001122", "owner": company["leaver"]["id"]}
    problem(admin.post("contacts/", json=body), 400, "owner")


def test_given_an_inactive_owner_when_creating_a_lead_then_400_on_owner(
    company: dict[str, Any], records: dict[str, Any]
) -> None:
    body = {
        "contact": records["contact"]["id"],
        "funnel": records["funnel"]["id"],
        "title": "x",
        "owner": company["leaver"]["id"],
    }
    problem(company["admin"].post("leads/", json=body), 400, "owner")


def test_given_an_inactive_owner_when_creating_a_deal_then_400_on_owner(
    company: dict[str, Any], records: dict[str, Any]
) -> None:
    body = {
        "contact": records["contact"]["id"],
        "funnel": records["funnel"]["id"],
        "title": "x",
        "owner": company["leaver"]["id"],
    }
    problem(company["admin"].post("deals/", json=body), 400, "owner")


@pytest.mark.parametrize("resource", ["contacts", "leads", "deals"])
def test_given_an_inactive_owner_when_patching_then_400_on_owner_and_unchanged(
    company: dict[str, Any], records: dict[str, Any], resource: str
) -> None:
    admin: Api = company["admin"]
    obj = records[resource[:-1]]
    r = admin.patch(f"{resource}/{obj['id']}/", json={"owner": company["leaver"]["id"]})
    problem(r, 400, "owner")
    assert admin.fetch(resource, obj["id"])["owner"] == obj["owner"]
