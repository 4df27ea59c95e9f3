"""Errors cross the HTTP boundary in one place, as problem+json, without leaking anything."""

from __future__ import annotations

import logging

import pytest
from dependency_injector import providers
from flask.testing import FlaskClient

from crm_http.container import Container

PROBLEM = "application/problem+json"


def test_an_unexpected_failure_is_a_500_problem_with_a_request_id_and_no_details(
    client: FlaskClient,
    auth: dict[str, str],
    container: Container,
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Exploding:
        def create_funnel(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("secret internal state: password=hunter2")

    with container.funnels.override(providers.Object(Exploding())):
        response = client.post("/api/crm/funnels/", json={"name": "Воронка"}, headers=auth)

    assert response.status_code == 500
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == 500 and body["request_id"]
    assert "hunter2" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    logged = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert any(body["request_id"] in record.getMessage() for record in logged)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("get", "/api/crm/funnels/", {}, 401),
        ("delete", "/api/crm/users/", {}, 405),
        ("get", "/api/crm/funnels/not-a-uuid/", {}, 404),
        ("post", "/api/crm/funnels/", {"data": "name=x"}, 415),
        ("post", "/api/crm/funnels/", {"json": {"name": "x" * (1024 * 1024)}}, 413),
        (
            "post",
            "/api/crm/funnels/",
            {"data": "{not json", "content_type": "application/json"},
            400,
        ),
        ("post", "/api/crm/funnels/", {"json": ["a", "list"]}, 400),
    ],
)
def test_every_refusal_is_a_problem_document(
    client: FlaskClient,
    auth: dict[str, str],
    method: str,
    path: str,
    kwargs: dict[str, object],
    status: int,
) -> None:
    headers = {} if status == 401 else auth

    response = getattr(client, method)(path, headers=headers, **kwargs)

    assert response.status_code == status
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status and body["title"] and body["type"] == "about:blank"


def test_a_validation_error_names_the_field_by_its_dotted_path(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    stages = [{"name": "A", "order": 1}, {"name": "B", "order": 2}, {"name": "C", "color": "red"}]

    response = client.post(
        "/api/crm/funnels/", json={"name": "Воронка", "stages": stages}, headers=auth
    )

    assert response.status_code == 400
    assert "stages.2.color" in response.get_json()["errors"]


def test_request_logs_carry_no_token(
    client: FlaskClient, auth: dict[str, str], token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    client.get("/api/crm/funnels/?search=x", headers=auth)

    assert caplog.records, "the request was not logged"
    assert all(token not in record.getMessage() for record in caplog.records)
    assert any('"status": 200' in record.getMessage() for record in caplog.records)


def test_a_page_beyond_any_possible_list_is_404_not_an_overflow(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    response = client.get("/api/crm/deals/?page=32589158477190044730&page_size=1025", headers=auth)

    assert response.status_code == 404
    assert response.mimetype == PROBLEM


def test_a_stage_order_beyond_the_column_is_a_400_on_that_stage(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    stages = [{"name": "Новый", "order": 37341705319368928486196298492781002752}]

    response = client.post(
        "/api/crm/funnels/", json={"name": "Воронка", "stages": stages}, headers=auth
    )

    assert response.status_code == 400
    assert "stages.0.order" in response.get_json()["errors"]


@pytest.mark.parametrize("value", [0, 1, "true", "yes", None])
def test_a_boolean_in_a_body_must_be_json_true_or_false(
    client: FlaskClient, auth: dict[str, str], value: object
) -> None:
    response = client.post(
        "/api/crm/branches/", json={"name": "Филиал", "is_active": value}, headers=auth
    )

    assert response.status_code == 400
    assert "is_active" in response.get_json()["errors"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"name": "a\\u0000b"}', "name"),
        ('{"name": "a\\ud800"}', "name"),
        ('{"name": "ok", "stages": [{"name": "x\\u0000"}]}', "stages.0.name"),
    ],
)
def test_text_no_database_can_store_is_a_400_naming_the_field(
    client: FlaskClient, auth: dict[str, str], body: str, field: str
) -> None:
    response = client.post(
        "/api/crm/funnels/", data=body, content_type="application/json", headers=auth
    )

    assert response.status_code == 400
    assert field in response.get_json()["errors"]


@pytest.mark.parametrize(
    "body", ['{"a":' * 100_000 + "1" + "}" * 100_000, '{"name": ' + "9" * 5000 + "}"]
)
def test_json_the_parser_gives_up_on_is_a_400(
    client: FlaskClient, auth: dict[str, str], body: str
) -> None:
    response = client.post(
        "/api/crm/funnels/", data=body, content_type="application/json", headers=auth
    )

    assert response.status_code == 400
    assert response.mimetype == PROBLEM


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"])
def test_a_timestamp_utc_cannot_hold_is_a_400(
    client: FlaskClient, auth: dict[str, str], moment: str
) -> None:
    contact = client.post(
        "/api/crm/contacts/", json={"first_name": "Иван", "email": "i@example.com"}, headers=auth
    ).get_json()

    response = client.post(
        "/api/crm/activities/",
        json={
            "activity_type": "call",
            "title": "Звонок",
            "contact": contact["id"],
            "activity_date": moment,
        },
        headers=auth,
    )

    assert response.status_code == 400
    assert "activity_date" in response.get_json()["errors"]


@pytest.mark.parametrize(("method", "path"), [("get", "/api/health"), ("post", "/api/auth/token")])
def test_public_paths_without_the_slash_redirect_rather_than_ask_for_a_token(
    client: FlaskClient, method: str, path: str
) -> None:
    response = getattr(client, method)(path)

    assert response.status_code == 308
    assert response.headers["Location"].endswith(path + "/")


def test_the_phone_filter_searches_the_digits_of_whatever_form_it_is_given(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    client.post(
        "/api/crm/contacts/",
        json={"first_name": "Иван", "phone": "8 999 123-45-67", "whatsapp": "+7 916 111-22-33"},
        headers=auth,
    )

    def count(phone: str) -> int:
        listing = client.get("/api/crm/contacts/", query_string={"phone": phone}, headers=auth)
        return int(listing.get_json()["count"])

    assert count("+7 999 123") == 1
    assert count("999-123") == 1
    assert count("4567 7916") == 0  # digits of two numbers do not join across them


def test_a_bad_email_for_a_new_user_is_a_field_error(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    response = client.post(
        "/api/crm/users/", json={"email": "not-an-email", "password": "password1"}, headers=auth
    )

    assert response.status_code == 400
    assert "email" in response.get_json()["errors"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/crm/leads/?created_at_before=9999-12-31",
        "/api/crm/contacts/?created_at_before=9999-12-31&created_at_after=0001-01-01",
        "/api/crm/deals/?created_at_before=9999-12-31",
        "/api/crm/activities/?activity_date_before=9999-12-31",
    ],
)
def test_the_last_representable_day_is_a_bound_like_any_other(
    client: FlaskClient, auth: dict[str, str], path: str
) -> None:
    response = client.get(path, headers=auth)

    assert response.status_code == 200
    assert response.get_json()["count"] >= 0


def test_statistics_up_to_the_last_representable_day(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    funnel = client.post("/api/crm/funnels/", json={"name": "Воронка"}, headers=auth).get_json()

    response = client.get(
        f"/api/crm/funnels/{funnel['id']}/statistics/?created_at_before=9999-12-31", headers=auth
    )

    assert response.status_code == 200
    assert response.get_json()["leads_count"] == 0


def test_users_carry_updated_at_and_a_lost_lead_its_reason(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    me = client.get("/api/crm/users/me/", headers=auth).get_json()
    funnel = client.post("/api/crm/funnels/", json={"name": "Воронка"}, headers=auth).get_json()
    contact = client.post(
        "/api/crm/contacts/", json={"first_name": "Иван", "email": "i@example.com"}, headers=auth
    ).get_json()
    lead = client.post(
        "/api/crm/leads/",
        json={"title": "Сайт", "contact": contact["id"], "funnel": funnel["id"]},
        headers=auth,
    ).get_json()

    lost = client.post(
        f"/api/crm/leads/{lead['id']}/mark_lost/", json={"reason": "Дорого"}, headers=auth
    ).get_json()

    assert me["updated_at"]
    assert (lost["status"], lost["lost_reason"]) == ("lost", "Дорого")
