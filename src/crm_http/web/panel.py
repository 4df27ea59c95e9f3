"""The card's side panel: its details, timeline and chat, and what can be done from there."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response as BaseResponse

from crm_core.activity import ActivityType
from crm_core.commands import UNSET, Maybe
from crm_core.errors import FieldErrors, ValidationFailed
from crm_core.ports import BoardKind, ListQuery, Page, ReadModel, Resource, Row
from crm_core.services.activities import CreateActivity
from crm_core.services.pipeline import ChangeDeal, ChangeLead
from crm_core.tenancy import Actor
from crm_core.values import AccountId, ContactId, DealId, LeadId, MessageId, Money, UserId
from crm_http.auth import current_actor
from crm_http.container import Container

TIMELINE_PAGE = 30
CHAT_PAGE = 50
MOST_PAGES = 100_000
# Who may own a record, and what may send: the company's active users and accounts.
ACTIVE_USERS = ListQuery(
    filters={"is_active": True}, ordering=(("full_name", False),), page_size=500
)
ACTIVE_ACCOUNTS = ListQuery(filters={"is_active": True}, ordering=(("name", False),))
# What a person records from the panel (stage changes and messages are the system's).
ACTIVITY_TYPES = (ActivityType.CALL, ActivityType.MEETING, ActivityType.NOTE, ActivityType.TASK)
# Events for the board (HX-Trigger): a card left the board, or may show something else now.
CARD_REMOVED = "crm:card-removed"
CARD_CHANGED = "crm:card-changed"
# Spaces people put in amounts (`1 500 000,50`): plain, no-break and narrow no-break.
AMOUNT_SPACES = str.maketrans({" ": None, "\u00a0": None, "\u202f": None, "₽": None})
OWNER_MESSAGE = "Выберите ответственного из списка."
AMOUNT_FORM = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)")


def _htmx() -> bool:
    """A request made by htmx (a plain form post is answered by going back to the panel)."""
    return "HX-Request" in request.headers


def _page_arg() -> int:
    text = request.args.get("page", "1")
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MOST_PAGES):
        raise BadRequest("page: a page number from 1.")
    return int(text)


def _uuid_value(name: str, text: str, message: str) -> uuid.UUID:
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        raise ValidationFailed.on(name, message) from None


def _account_value(text: str) -> AccountId:
    return AccountId(_uuid_value("account", text, "Выберите, через какой аккаунт отправить."))


def _money_field(name: str, errors: FieldErrors) -> Maybe[Money]:
    """An amount as people type it: spaces between thousands, a comma or a point; empty is 0.
    The form is checked here; the rules of money (places, digits, sign) are Money's."""
    if name not in request.form:
        return UNSET
    text = request.form[name].translate(AMOUNT_SPACES).replace(",", ".")
    if text and not AMOUNT_FORM.fullmatch(text):
        errors.add(name, "Введите сумму числом, например 150000 или 150 000,50.")
        return UNSET
    with errors.field(name):
        return Money.parse(text or "0")
    return UNSET


def _text_field(name: str, errors: FieldErrors, message: str) -> str:
    """A text a form must not leave blank (its length is the domain's to check)."""
    text = request.form.get(name, "")
    if not text.strip():
        errors.add(name, message)
    return text


def _date_field(name: str) -> date | None:
    text = request.form.get(name, "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed.on(name, "Введите дату в виде ГГГГ-ММ-ДД.") from None


def _with_events(html: str, events: dict[str, Any]) -> Response:
    answer = Response(html, mimetype="text/html")
    if events:
        answer.headers["HX-Trigger"] = json.dumps(events, default=str)
    return answer


def panel_routes(blueprint: Blueprint, container: Container) -> None:
    read_model: Any = container.read_model
    clock: Any = container.clock
    leads: Any = container.leads
    deals: Any = container.deals
    activities: Any = container.activities
    sending: Any = container.sending
    accounts: Any = container.messaging_accounts

    def model() -> ReadModel:
        found: ReadModel = read_model()
        return found

    def today() -> date:
        now: datetime = clock().now()
        return now.date()

    def item_of(actor: Actor, kind: BoardKind, item_id: uuid.UUID) -> Row:
        """The lead or deal as its list shows it; NotFound outside the caller's company."""
        resource = Resource.DEALS if kind is BoardKind.DEALS else Resource.LEADS
        return model().detail(resource, actor.company_id, item_id)

    # --- what each part of the panel shows ---------------------------------------------------

    def details_context(actor: Actor, kind: BoardKind, item: Row) -> dict[str, Any]:
        company = actor.company_id
        contact = model().detail(Resource.CONTACTS, company, item["contact"])
        owners = model().list(Resource.USERS, company, ACTIVE_USERS).rows
        deal = None
        if kind is BoardKind.LEADS and item["deal"] is not None:
            deal = model().detail(Resource.DEALS, company, item["deal"])
        return {"kind": kind, "item": item, "contact": contact, "owners": owners, "deal": deal}

    def timeline_context(actor: Actor, kind: BoardKind, item: Row, page: int) -> dict[str, Any]:
        found: Page = model().contact_timeline(
            actor.company_id, ContactId(item["contact"]), page, TIMELINE_PAGE
        )
        return {
            "kind": kind,
            "item": item,
            "entries": found.rows,
            "page": page,
            "has_more": found.count > page * TIMELINE_PAGE,
            "today": today(),
        }

    def messages_context(actor: Actor, kind: BoardKind, item: Row, page: int) -> dict[str, Any]:
        """A page of the chat, newest first from the store, shown oldest first."""
        found = model().list(
            Resource.MESSAGES,
            actor.company_id,
            ListQuery(
                filters={"contact": item["contact"]},
                ordering=(("timestamp", True),),
                page=page,
                page_size=CHAT_PAGE,
            ),
        )
        return {
            "kind": kind,
            "item": item,
            "messages": list(reversed(found.rows)),
            "page": page,
            "has_older": found.count > page * CHAT_PAGE,
        }

    def chat_context(actor: Actor, kind: BoardKind, item: Row) -> dict[str, Any]:
        company = actor.company_id
        active = model().list(Resource.ACCOUNTS, company, ACTIVE_ACCOUNTS).rows
        unread_query = ListQuery(
            filters={"contact": item["contact"], "is_incoming": True, "is_read": False},
            page_size=1,
        )
        unread = model().list(Resource.MESSAGES, company, unread_query).count
        return {
            **messages_context(actor, kind, item, 1),
            "accounts": active,
            "can_open_window": any(account["is_connected"] for account in active),
            "unread": unread,
            "send_key": uuid.uuid4().hex,
        }

    def render_panel(actor: Actor, kind: BoardKind, item: Row, template: str) -> str:
        context = {
            **details_context(actor, kind, item),
            **timeline_context(actor, kind, item, 1),
            **chat_context(actor, kind, item),
        }
        return render_template(template, **context, activity_types=ACTIVITY_TYPES, fragment=_htmx())

    def answer(
        kind: BoardKind,
        item_id: uuid.UUID,
        render: Callable[[], str],
        events: dict[str, Any] | None = None,
    ) -> BaseResponse:
        """htmx gets the changed part (and the board's events); a plain form post goes back
        to the panel's page."""
        if not _htmx():
            return redirect(url_for("web.panel", kind_name=kind.value, item_id=item_id))
        return _with_events(render(), events or {})

    # --- the panel ----------------------------------------------------------------------------

    @blueprint.get("/<any(leads, deals):kind_name>/<uuid:item_id>")
    def panel(kind_name: str, item_id: uuid.UUID) -> str:
        """The panel: a fragment for the board's scripts, a page of its own otherwise."""
        actor, kind = current_actor(), BoardKind(kind_name)
        item = item_of(actor, kind, item_id)
        template = "web/_panel.html" if _htmx() else "web/_panel_page.html"
        return render_panel(actor, kind, item, template)

    @blueprint.get("/<any(leads, deals):kind_name>/<uuid:item_id>/timeline")
    def panel_timeline(kind_name: str, item_id: uuid.UUID) -> str:
        """A further page of the timeline («Показать ещё»)."""
        actor, kind = current_actor(), BoardKind(kind_name)
        item = item_of(actor, kind, item_id)
        context = timeline_context(actor, kind, item, _page_arg())
        return render_template("web/_panel_timeline.html", **context)

    @blueprint.post("/<any(leads, deals):kind_name>/<uuid:item_id>/activities")
    def panel_add_activity(kind_name: str, item_id: uuid.UUID) -> BaseResponse:
        """A call, meeting, note or task about the lead or deal; the timeline shows it."""
        actor, kind = current_actor(), BoardKind(kind_name)
        item = item_of(actor, kind, item_id)
        activity_type = request.form.get("activity_type", "")
        is_task = activity_type == ActivityType.TASK
        errors = FieldErrors()
        title = _text_field("title", errors, "Введите заголовок.")
        with errors.field("due_date"):
            due_date = _date_field("due_date") if is_task else None
        errors.raise_if_any()
        activities().create_activity(
            actor,
            CreateActivity(
                activity_type=activity_type,
                title=title,
                description=request.form.get("description", ""),
                due_date=due_date,
                lead_id=LeadId(item_id) if kind is BoardKind.LEADS else None,
                deal_id=DealId(item_id) if kind is BoardKind.DEALS else None,
            ),
        )
        events = {CARD_CHANGED: _card(item)} if is_task else {}  # the card shows task badges
        return answer(kind, item_id, lambda: activity_added(actor, kind, item), events)

    @blueprint.post("/<any(leads, deals):kind_name>/<uuid:item_id>/details")
    def panel_edit(kind_name: str, item_id: uuid.UUID) -> BaseResponse:
        """The title, the amount (a lead's estimated value) and the owner."""
        actor, kind = current_actor(), BoardKind(kind_name)
        before = item_of(actor, kind, item_id)
        errors = FieldErrors()
        value_field = "amount" if kind is BoardKind.DEALS else "estimated_value"
        value = _money_field(value_field, errors)
        owner: Maybe[UserId | None] = UNSET
        if "owner" in request.form:
            with errors.field("owner"):
                text = request.form["owner"].strip()
                chosen = _uuid_value("owner", text, OWNER_MESSAGE) if text else None
                # Sent only when changed: a record may keep an owner who was deactivated since.
                if chosen != before["owner"]:
                    owner = None if chosen is None else UserId(chosen)
        title: Maybe[str] = UNSET
        if "title" in request.form:
            title = _text_field("title", errors, "Введите название.")
        errors.raise_if_any()
        if kind is BoardKind.DEALS:
            deals().update_deal(
                actor, DealId(item_id), ChangeDeal(title=title, amount=value, owner_id=owner)
            )
        else:
            leads().update_lead(
                actor,
                LeadId(item_id),
                ChangeLead(title=title, estimated_value=value, owner_id=owner),
            )
        item = item_of(actor, kind, item_id)
        return answer(
            kind,
            item_id,
            lambda: render_template(
                "web/_panel_details.html", **details_context(actor, kind, item), saved=True
            ),
            {CARD_CHANGED: _card(item)},
        )

    @blueprint.post("/leads/<uuid:item_id>/convert")
    def panel_convert(item_id: uuid.UUID) -> BaseResponse:
        """The lead becomes a deal: the panel shows the deal, the board drops the lead."""
        actor = current_actor()
        deal_id = leads().convert_lead(actor, LeadId(item_id))
        if not _htmx():
            return redirect(url_for("web.panel", kind_name=BoardKind.DEALS.value, item_id=deal_id))
        deal = item_of(actor, BoardKind.DEALS, deal_id)
        html = render_panel(actor, BoardKind.DEALS, deal, "web/_panel.html")
        return _with_events(html, {CARD_REMOVED: {"id": str(item_id)}})

    # --- the chat -----------------------------------------------------------------------------

    @blueprint.get("/<any(leads, deals):kind_name>/<uuid:item_id>/chat")
    def panel_chat(kind_name: str, item_id: uuid.UUID) -> str:
        """The chat again (after a send failed, to show the message kept as failed)."""
        actor, kind = current_actor(), BoardKind(kind_name)
        item = item_of(actor, kind, item_id)
        return render_template("web/_panel_chat.html", **chat_context(actor, kind, item))

    @blueprint.get("/<any(leads, deals):kind_name>/<uuid:item_id>/chat/messages")
    def panel_older_messages(kind_name: str, item_id: uuid.UUID) -> str:
        actor, kind = current_actor(), BoardKind(kind_name)
        item = item_of(actor, kind, item_id)
        context = messages_context(actor, kind, item, _page_arg())
        return render_template("web/_panel_messages.html", **context)

    @blueprint.post("/<any(leads, deals):kind_name>/<uuid:item_id>/chat/messages")
    def panel_send(kind_name: str, item_id: uuid.UUID) -> BaseResponse:
        """Sends through the chosen account; a refusal before sending is a 400/409, a failed
        send a 502/504 whose message is kept as failed (the chat shows it)."""
        actor, kind = current_actor(), BoardKind(kind_name)
        item = item_of(actor, kind, item_id)
        errors = FieldErrors()
        text = _text_field("message", errors, "Напишите сообщение.")
        with errors.field("account"):
            account = _account_value(request.form.get("account", ""))
        errors.raise_if_any()
        sending().send_message(
            actor,
            account,
            contact_id=ContactId(item["contact"]),
            text=text,
            lead_id=LeadId(item_id) if kind is BoardKind.LEADS else None,
            deal_id=DealId(item_id) if kind is BoardKind.DEALS else None,
            # A second submission of one form (a double click, a resent request) sends once.
            idempotency_key=request.form.get("idempotency_key", "")[:255] or None,
        )
        return answer(kind, item_id, lambda: chat_with_timeline(actor, kind, item, "send"))

    @blueprint.post(
        "/<any(leads, deals):kind_name>/<uuid:item_id>/chat/messages/<uuid:message_id>/retry"
    )
    def panel_retry(kind_name: str, item_id: uuid.UUID, message_id: uuid.UUID) -> BaseResponse:
        actor, kind = current_actor(), BoardKind(kind_name)
        item = item_of(actor, kind, item_id)
        sending().retry_message(actor, MessageId(message_id))
        return answer(kind, item_id, lambda: chat_with_timeline(actor, kind, item, "heading"))

    @blueprint.post("/<any(leads, deals):kind_name>/<uuid:item_id>/chat/read")
    def panel_mark_read(kind_name: str, item_id: uuid.UUID) -> BaseResponse:
        """The contact's incoming messages become read (the card's unread badge goes)."""
        actor, kind = current_actor(), BoardKind(kind_name)
        item = item_of(actor, kind, item_id)
        sending().mark_read(actor, contact_id=ContactId(item["contact"]))
        return answer(
            kind,
            item_id,
            lambda: render_template(
                "web/_panel_chat.html", **chat_context(actor, kind, item), focus="heading"
            ),
            {CARD_CHANGED: _card(item)},
        )

    @blueprint.get("/<any(leads, deals):kind_name>/<uuid:item_id>/chat/window")
    def panel_chat_window(kind_name: str, item_id: uuid.UUID) -> str:
        """The provider's chat window for this contact (asked of the provider only on a click)."""
        actor, kind = current_actor(), BoardKind(kind_name)
        item = item_of(actor, kind, item_id)
        account = _account_value(request.args.get("account", ""))
        url = accounts().chat_window(actor, account, ContactId(item["contact"]))
        return render_template("web/_panel_chat_window.html", url=url)

    def activity_added(actor: Actor, kind: BoardKind, item: Row) -> str:
        """A fresh form (saying it was added) and the timeline that shows the activity."""
        form = render_template(
            "web/_panel_activity_form.html",
            kind=kind,
            item=item,
            activity_types=ACTIVITY_TYPES,
            added=True,
        )
        return form + timeline_oob(actor, kind, item)

    def timeline_oob(actor: Actor, kind: BoardKind, item: Row) -> str:
        """The timeline's first page, to replace the shown one out of band."""
        context = timeline_context(actor, kind, item, 1)
        return render_template("web/_panel_timeline_list.html", oob=True, **context)

    def chat_with_timeline(actor: Actor, kind: BoardKind, item: Row, focus: str) -> str:
        """The chat (a fresh send box) and the timeline, which a send writes to."""
        context = chat_context(actor, kind, item)
        chat = render_template("web/_panel_chat.html", **context, focus=focus)
        return chat + timeline_oob(actor, kind, item)


def _card(item: Row) -> dict[str, str]:
    return {"id": str(item["id"]), "stage_id": str(item["stage"])}
