"""The card's side panel over HTTP, signed in through /app/login as a browser is: its
details, timeline, activities, conversion, edits and chat, for leads and deals."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from dependency_injector import providers
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from crm_adapters.sql.migrate import upgrade
from crm_core.errors import ProviderRefused
from crm_core.ports import ListQuery, Resource
from crm_core.services.contacts import CreateContact
from crm_core.services.messaging_accounts import CreateAccount
from crm_core.services.pipeline import CreateDeal, CreateLead
from crm_core.tenancy import Actor, Role
from crm_core.values import ContactId, DealId, FunnelId, LeadId, Money
from crm_http.container import Container
from tests.fakes import FakeGateway
from tests.integration.web.conftest import PASSWORD, make_app, signed_in

NBSP = "\u00a0"


@pytest.fixture(scope="module")
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture(scope="module")
def container(module_database_url: str, gateway: FakeGateway) -> Container:
    container = Container()
    container.gateway.override(providers.Object(gateway))
    return container


@pytest.fixture(scope="module")
def app(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory, container: Container
) -> Iterator[Flask]:
    upgrade(module_database_url)
    yield make_app(module_database_url, tmp_path_factory.mktemp("var"), container)
    container.engine().dispose()


@attrs.define
class Company:
    """A company with a signed-in admin, a funnel and a contact with a phone."""

    container: Container
    client: FlaskClient
    actor: Actor
    csrf: str
    funnel: FunnelId
    contact: ContactId

    def lead(self, title: str = "Окна в офис", value: str = "50000") -> LeadId:
        command = CreateLead(
            contact_id=self.contact,
            funnel_id=self.funnel,
            title=title,
            estimated_value=Money.parse(value),
        )
        lead_id: LeadId = self.container.leads().create_lead(self.actor, command)
        return lead_id

    def deal(self, title: str = "Поставка окон", amount: str = "150000") -> DealId:
        command = CreateDeal(
            contact_id=self.contact, funnel_id=self.funnel, title=title, amount=Money.parse(amount)
        )
        deal_id: DealId = self.container.deals().create_deal(self.actor, command)
        return deal_id

    def get(self, path: str, **headers: str) -> TestResponse:
        return self.client.get(path, headers={"HX-Request": "true", **headers})

    def post(self, path: str, data: dict[str, str] | None = None) -> TestResponse:
        """As htmx posts from the panel: the CSRF token in the header the page sets."""
        headers = {"HX-Request": "true", "X-CSRF-Token": self.csrf}
        return self.client.post(path, data=data or {}, headers=headers)


def sign_in(app: Flask, container: Container) -> Company:
    tag = uuid.uuid4().hex[:8]
    email = f"admin-{tag}@example.com"
    _, token = container.access().create_user(
        f"Ромашка {tag}", email, PASSWORD, Role.ADMIN, full_name="Анна Смирнова"
    )
    actor = container.access().authenticate(token)
    assert actor is not None
    browser = signed_in(app, email)
    funnel = container.funnels().create_funnel(actor, "Продажи")
    contact = container.contacts().create_contact(
        actor, CreateContact(first_name="Иван", last_name="Петров", phone="+7 999 123-45-67")
    )
    return Company(container, browser.client, actor, browser.csrf, funnel, contact)


def _problem(answer: TestResponse, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json"
    body: dict[str, Any] = answer.get_json()
    return body


def _events(answer: TestResponse) -> dict[str, Any]:
    events: dict[str, Any] = json.loads(answer.headers["HX-Trigger"])
    return events


def _text(answer: TestResponse) -> str:
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_data(as_text=True)


@pytest.fixture(scope="module")
def company(app: Flask, container: Container) -> Company:
    return sign_in(app, container)


# --- the panel ------------------------------------------------------------------------------


def test_given_a_deal_when_its_panel_is_opened_then_it_shows_its_details(
    company: Company,
) -> None:
    deal = company.deal(amount="150000")

    html = _text(company.get(f"/app/deals/{deal}"))

    assert "<!doctype" not in html  # a fragment for the board's aside
    assert 'id="panel-title"' in html and "Поставка окон" in html
    assert "Петров Иван" in html or "Иван Петров" in html
    assert 'href="tel:+79991234567"' in html
    assert f"150{NBSP}000{NBSP}₽" in html
    assert "Анна Смирнова" in html  # the owner (the creator)
    assert "Открыта" in html
    assert "Конвертировать" not in html
    assert 'data-error-for="amount"' in html  # the edit form names its fields' error slots


def test_given_a_lead_when_its_panel_is_opened_then_it_shows_its_status_and_convert(
    company: Company,
) -> None:
    lead = company.lead(value="50000")

    html = _text(company.get(f"/app/leads/{lead}"))

    assert "Окна в офис" in html
    assert "Открыт" in html and "Оценка" in html
    assert f"50{NBSP}000{NBSP}₽" in html
    assert "Конвертировать в сделку" in html
    assert 'data-error-for="estimated_value"' in html


def test_given_no_script_when_the_panel_is_opened_then_it_is_a_page_of_its_own(
    company: Company,
) -> None:
    lead = company.lead()

    html = _text(company.client.get(f"/app/leads/{lead}"))

    assert html.lstrip().lower().startswith("<!doctype html>")
    assert 'id="panel"' in html and "Окна в офис" in html


def test_given_another_companys_lead_when_its_panel_is_asked_for_then_404(
    app: Flask, container: Container, company: Company
) -> None:
    other = sign_in(app, container)
    theirs = other.lead(title="Чужой лид")

    assert company.get(f"/app/leads/{theirs}").status_code == 404
    page = company.client.get(f"/app/leads/{theirs}")
    assert page.status_code == 404
    assert "Чужой лид" not in page.get_data(as_text=True)
    assert company.get(f"/app/deals/{uuid.uuid4()}").status_code == 404


# --- the timeline and activities -------------------------------------------------------------


def test_given_a_deal_when_a_call_is_added_then_the_timeline_shows_it_and_the_form_clears(
    company: Company,
) -> None:
    deal = company.deal()

    answer = company.post(
        f"/app/deals/{deal}/activities",
        {"activity_type": "call", "title": "Обсудили сроки", "description": "Перезвонить"},
    )

    html = _text(answer)
    assert "Событие добавлено" in html
    assert 'id="panel-timeline" class="timeline" hx-swap-oob="true"' in html
    assert "Обсудили сроки" in html and "Звонок" in html
    assert 'name="title" required' in html and 'value="Обсудили' not in html  # a fresh form
    assert "HX-Trigger" not in answer.headers  # a call changes nothing on the card
    assert "Обсудили сроки" in _text(company.get(f"/app/deals/{deal}"))


def test_given_a_lead_when_a_task_with_a_due_date_is_added_then_the_card_is_told(
    company: Company,
) -> None:
    lead = company.lead()

    answer = company.post(
        f"/app/leads/{lead}/activities",
        {"activity_type": "task", "title": "Отправить КП", "due_date": "2030-01-15"},
    )

    html = _text(answer)
    assert "Срок: 15.01.2030" in html
    card = _events(answer)["crm:card-changed"]
    assert card["id"] == str(lead)
    assert uuid.UUID(card["stage_id"])


def test_given_an_activity_without_a_title_when_added_then_400_on_title(
    company: Company,
) -> None:
    lead = company.lead()

    answer = company.post(f"/app/leads/{lead}/activities", {"activity_type": "note", "title": ""})

    assert "title" in _problem(answer, 400)["errors"]


def test_given_many_events_when_the_timeline_is_shown_then_30_and_show_more(
    company: Company,
) -> None:
    lead = company.lead()
    for number in range(31):
        company.post(
            f"/app/leads/{lead}/activities", {"activity_type": "note", "title": f"Заметка {number}"}
        )

    first = _text(company.get(f"/app/leads/{lead}"))
    second = _text(company.get(f"/app/leads/{lead}/timeline?page=2"))

    assert "Заметка 30" in first and "Заметка 0<" not in first
    assert "Показать ещё" in first
    assert "Заметка 0<" in second and "Показать ещё" not in second
    assert company.get(f"/app/leads/{lead}/timeline?page=0").status_code == 400


# --- converting and editing ------------------------------------------------------------------


def test_given_an_open_lead_when_converted_then_the_panel_shows_the_deal_and_the_card_goes(
    company: Company,
) -> None:
    lead = company.lead(title="Двери", value="70000")

    answer = company.post(f"/app/leads/{lead}/convert")

    html = _text(answer)
    assert _events(answer) == {"crm:card-removed": {"id": str(lead)}}
    assert "Сделка" in html and "Из лида" in html and "Двери" in html
    assert f"70{NBSP}000{NBSP}₽" in html
    lead_now = _text(company.get(f"/app/leads/{lead}"))
    assert "Конвертирован в сделку" in lead_now and "Конвертировать в сделку" not in lead_now
    again = company.post(f"/app/leads/{lead}/convert")
    assert _problem(again, 409)["detail"]


def test_given_a_deal_when_edited_with_a_bad_amount_then_400_names_the_amount(
    company: Company,
) -> None:
    deal = company.deal(title="Старое название")

    answer = company.post(
        f"/app/deals/{deal}/details", {"title": "Новое", "amount": "сто тысяч", "owner": ""}
    )

    problem = _problem(answer, 400)
    assert list(problem["errors"]) == ["amount"]
    assert "Старое название" in _text(company.get(f"/app/deals/{deal}"))  # nothing changed


def test_given_a_deal_when_edited_then_the_details_change_and_the_card_is_told(
    company: Company,
) -> None:
    deal = company.deal(title="Старое название")

    answer = company.post(
        f"/app/deals/{deal}/details",
        {"title": "Новое название", "amount": "1 500 000,50", "owner": ""},
    )

    html = _text(answer)
    assert "Изменения сохранены" in html
    assert '<h2 id="panel-title" tabindex="-1" hx-swap-oob="true">Новое название</h2>' in html
    assert f"1{NBSP}500{NBSP}000,50{NBSP}₽" in html
    assert "не назначен" in html  # the owner was cleared
    card = _events(answer)["crm:card-changed"]
    assert card["id"] == str(deal) and uuid.UUID(card["stage_id"])


def test_given_a_lead_when_its_owner_is_someone_outside_the_company_then_400_on_owner(
    company: Company,
) -> None:
    lead = company.lead()

    answer = company.post(
        f"/app/leads/{lead}/details",
        {"title": "Окна", "estimated_value": "10", "owner": str(uuid.uuid4())},
    )

    assert list(_problem(answer, 400)["errors"]) == ["owner"]


# --- the chat --------------------------------------------------------------------------------


def test_given_no_messaging_account_when_the_panel_is_opened_then_it_says_sending_is_off(
    company: Company,
) -> None:
    lead = company.lead()

    html = _text(company.get(f"/app/leads/{lead}"))

    assert "Нет активного аккаунта мессенджера" in html
    assert 'id="panel-send"' not in html and "Открыть чат Wazzup" not in html


def test_given_an_account_when_a_message_is_sent_then_the_chat_shows_it_with_its_status(
    app: Flask, container: Container, gateway: FakeGateway
) -> None:
    company = sign_in(app, container)
    account = container.messaging_accounts().create_account(
        company.actor, CreateAccount(name="Отдел продаж", api_key="key-1", instance_id="channel-1")
    )
    container.messaging_accounts().check_connection(company.actor, account)
    deal = company.deal()
    assert "Открыть чат Wazzup" in _text(company.get(f"/app/deals/{deal}"))

    sent = company.post(
        f"/app/deals/{deal}/chat/messages",
        {"account": str(account), "message": "Здравствуйте!", "idempotency_key": "k1"},
    )

    html = _text(sent)
    assert "Здравствуйте!" in html and "Отправлено" in html
    assert 'id="panel-timeline" class="timeline" hx-swap-oob="true"' in html
    assert gateway.sent[-1].text == "Здравствуйте!" and gateway.sent[-1].chat_id == "79991234567"
    window = _text(company.get(f"/app/deals/{deal}/chat/window?account={account}"))
    assert 'href="https://chat.example/window' in window and 'target="_blank"' in window

    gateway.send_failure = ProviderRefused("BAD_CONTACT", "Нет такого номера", 400)
    try:
        failed = company.post(
            f"/app/deals/{deal}/chat/messages",
            {"account": str(account), "message": "Второе", "idempotency_key": "k2"},
        )
    finally:
        gateway.send_failure = None

    assert _problem(failed, 502)["detail"]
    chat = _text(company.get(f"/app/deals/{deal}/chat"))
    assert "Второе" in chat and "Ошибка" in chat and "Нет такого номера" in chat
    assert "Повторить отправку" in chat
    messages = container.read_model().list(
        Resource.MESSAGES, company.actor.company_id, ListQuery(filters={"contact": company.contact})
    )
    assert sorted(row["status"] for row in messages.rows) == ["failed", "sent"]


def test_given_an_empty_message_when_sent_then_400_on_the_message(
    app: Flask, container: Container
) -> None:
    company = sign_in(app, container)
    account = container.messaging_accounts().create_account(
        company.actor, CreateAccount(name="Отдел продаж", api_key="key-2", instance_id="channel-1")
    )
    lead = company.lead()

    answer = company.post(
        f"/app/leads/{lead}/chat/messages", {"account": str(account), "message": "  "}
    )

    assert list(_problem(answer, 400)["errors"]) == ["message"]


# --- CSRF and plain forms --------------------------------------------------------------------


def test_given_no_csrf_token_when_posting_then_403_and_nothing_changes(company: Company) -> None:
    lead = company.lead()

    from_script = company.client.post(f"/app/leads/{lead}/convert", headers={"HX-Request": "true"})
    from_form = company.client.post(f"/app/leads/{lead}/details", data={"title": "Взлом"})

    _problem(from_script, 403)
    assert from_form.status_code == 403
    html = _text(company.get(f"/app/leads/{lead}"))
    assert "Конвертировать в сделку" in html and "Взлом" not in html


def test_given_a_plain_form_post_when_it_succeeds_then_back_to_the_panel_page(
    company: Company,
) -> None:
    lead = company.lead()

    answer = company.client.post(
        f"/app/leads/{lead}/activities",
        data={"activity_type": "meeting", "title": "Встреча в офисе", "csrf_token": company.csrf},
    )

    assert answer.status_code == 302
    assert answer.headers["Location"].endswith(f"/app/leads/{lead}")
