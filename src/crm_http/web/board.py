"""The board of a funnel: its columns and cards, paging a column, polling for others'
changes, and moving, winning, losing and reopening cards."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response as BaseResponse

from crm_core.errors import NotFound, ValidationFailed
from crm_core.ports import BoardKind, BoardReader, CardsAfter, ListQuery, ReadModel, Resource
from crm_core.tenancy import Actor
from crm_core.values import DealId, FunnelId, LeadId, StageId
from crm_http.auth import current_actor
from crm_http.container import Container
from crm_http.web.format import rubles
from crm_http.web.refusals import Action

PER_COLUMN = 20
# A column re-rendered after others' changes keeps the cards its viewer had opened, up to this.
MOST_SHOWN = 200
KIND_NAMES = {BoardKind.DEALS: "Сделки", BoardKind.LEADS: "Лиды"}
ACTIONS = {
    "web.move": Action.MOVE,
    "web.won": Action.WON,
    "web.lost": Action.LOST,
    "web.reopen": Action.REOPEN,
}


def board_kind(value: str | None) -> BoardKind:
    try:
        return BoardKind(value or BoardKind.DEALS)
    except ValueError:
        raise BadRequest("kind: use leads or deals.") from None


def _cursor(text: str | None) -> CardsAfter | None:
    """`after` of «Показать ещё»: the last shown card's `stage_changed_at|id`."""
    if not text:
        return None
    moment, _, card_id = text.partition("|")
    try:
        return CardsAfter(datetime.fromisoformat(moment), uuid.UUID(card_id))
    except ValueError:
        raise BadRequest("after: not a card of this board.") from None


def _uuid_field(name: str) -> uuid.UUID:
    try:
        return uuid.UUID(request.form.get(name, ""))
    except ValueError:
        raise ValidationFailed.on(name, "Must be a valid UUID.") from None


def _stage_field() -> StageId:
    return StageId(_uuid_field("stage_id"))


def _funnel_field() -> FunnelId:
    """The funnel of the board the page shows: its headers are what a change answers."""
    return FunnelId(_uuid_field("funnel_id"))


def _shown(text: str | None) -> int:
    try:
        return min(max(int(text or PER_COLUMN), PER_COLUMN), MOST_SHOWN)
    except ValueError:
        raise BadRequest("shown: a number of cards.") from None


def board_action() -> Action | None:
    """What this request asked of a card on the board, if it is such a request."""
    return ACTIONS.get(request.endpoint or "")


def _written(headers: dict[str, Any]) -> dict[str, Any]:
    """Column headers with the sum written as the page writes it."""
    return {
        stage: {**figures, "open_amount_text": rubles(figures["open_amount"])}
        for stage, figures in headers.items()
    }


def board_routes(blueprint: Blueprint, container: Container) -> None:
    board_reader: Any = container.board
    read_model: Any = container.read_model
    clock: Any = container.clock
    leads: Any = container.leads
    deals: Any = container.deals

    def reader() -> BoardReader:
        reader: BoardReader = board_reader()
        return reader

    def today() -> date:
        now: datetime = clock().now()
        return now.date()

    def render_column(funnel_id: FunnelId, kind: BoardKind, column: Any) -> str:
        return render_template(
            "web/_column.html",
            column=column,
            funnel_id=funnel_id,
            kind=kind,
            today=today(),
        )

    @blueprint.get("/")
    def home() -> BaseResponse:
        """The board of the company's first active funnel (the list when it has none)."""
        actor = current_actor()
        model: ReadModel = read_model()
        funnels = model.list(
            Resource.FUNNELS,
            actor.company_id,
            ListQuery(filters={"is_active": True}, ordering=(("name", False),), page_size=1),
        )
        if not funnels.rows:
            return Response(render_template("web/empty.html"), mimetype="text/html")
        return redirect(url_for("web.board", funnel_id=funnels.rows[0]["id"]))

    @blueprint.get("/funnels/<uuid:funnel_id>/board")
    def board(funnel_id: uuid.UUID) -> str:
        actor = current_actor()
        kind = board_kind(request.args.get("kind"))
        board = reader().board(actor.company_id, FunnelId(funnel_id), kind, PER_COLUMN)
        return render_template(
            "web/board.html",
            board=board,
            kind=kind,
            kind_names=KIND_NAMES,
            today=today(),
        )

    @blueprint.get("/funnels/<uuid:funnel_id>/board/columns/<uuid:stage_id>")
    def column(funnel_id: uuid.UUID, stage_id: uuid.UUID) -> str:
        """One column again (others changed it): as many cards as its viewer had shown."""
        actor = current_actor()
        kind = board_kind(request.args.get("kind"))
        shown = _shown(request.args.get("shown"))
        found = reader().column(
            actor.company_id, FunnelId(funnel_id), StageId(stage_id), kind, shown
        )
        return render_column(FunnelId(funnel_id), kind, found)

    @blueprint.get("/funnels/<uuid:funnel_id>/board/columns/<uuid:stage_id>/more")
    def more(funnel_id: uuid.UUID, stage_id: uuid.UUID) -> str:
        """The next cards of one column, after the last one shown («Показать ещё»); a stage
        of another funnel, or of another company, is not found."""
        actor = current_actor()
        kind = board_kind(request.args.get("kind"))
        after = _cursor(request.args.get("after"))
        model: ReadModel = read_model()
        stage = model.detail(Resource.STAGES, actor.company_id, stage_id)
        if stage["funnel"] != funnel_id:
            raise NotFound("Stage")
        cards, has_more = reader().cards(
            actor.company_id, StageId(stage_id), kind, after, PER_COLUMN
        )
        return render_template(
            "web/_cards.html",
            cards=cards,
            has_more=has_more,
            column={"id": stage_id},
            funnel_id=funnel_id,
            kind=kind,
            today=today(),
        )

    @blueprint.get("/funnels/<uuid:funnel_id>/board/versions")
    def versions(funnel_id: uuid.UUID) -> Response:
        """What each column is now, cheaply: the page polls it and re-renders what changed."""
        actor = current_actor()
        kind = board_kind(request.args.get("kind"))
        versions = dict(reader().versions(actor.company_id, FunnelId(funnel_id), kind))
        versions["headers"] = _written(versions["headers"])
        answer = jsonify(versions)
        answer.headers["Cache-Control"] = "no-store"
        return answer

    def settled(actor: Actor, funnel_id: FunnelId, kind: BoardKind, **extra: Any) -> Response:
        """After a change: every column's header (count and sum), for the page to show."""
        headers = reader().versions(actor.company_id, funnel_id, kind)["headers"]
        return jsonify({"headers": _written(headers), **extra})

    def item_of(actor: Actor, kind: BoardKind, item_id: uuid.UUID) -> Any:
        model: ReadModel = read_model()
        resource = Resource.DEALS if kind is BoardKind.DEALS else Resource.LEADS
        return model.detail(resource, actor.company_id, item_id)

    def card_of(actor: Actor, kind: BoardKind, item_id: uuid.UUID) -> str | None:
        """The card as the board shows it now, or None when it left the board (closed)."""
        found = reader().card(actor.company_id, kind, item_id)
        if found is None:
            return None
        return render_template("web/_card.html", card=found, kind=kind, today=today())

    @blueprint.post("/<any(leads, deals):kind_name>/<uuid:item_id>/move")
    def move(kind_name: str, item_id: uuid.UUID) -> Response:
        """A card into another stage of its funnel. The board names its funnel: a stage of
        another one is refused, so after the move the card is in the board's funnel."""
        actor, kind = current_actor(), BoardKind(kind_name)
        stage_id, funnel_id = _stage_field(), _funnel_field()
        if kind is BoardKind.DEALS:
            deals().move_deal(actor, DealId(item_id), stage_id)
        else:
            leads().move_lead(actor, LeadId(item_id), stage_id)
        return settled(actor, funnel_id, kind, card=card_of(actor, kind, item_id))

    @blueprint.post("/<any(leads, deals):kind_name>/<uuid:item_id>/won")
    def won(kind_name: str, item_id: uuid.UUID) -> Response:
        """«Успешно»: a deal is won (undone by reopening it); a lead becomes a deal, which
        is not undone."""
        actor, kind = current_actor(), BoardKind(kind_name)
        before = item_of(actor, kind, item_id)
        if kind is BoardKind.DEALS:
            deals().mark_won(actor, DealId(item_id))
            undo = url_for("web.reopen", kind_name=kind_name, item_id=item_id)
            return settled(actor, before["funnel"], kind, undo=undo, stage_id=before["stage"])
        leads().convert_lead(actor, LeadId(item_id))
        return settled(actor, before["funnel"], kind, undo=None)

    @blueprint.post("/<any(leads, deals):kind_name>/<uuid:item_id>/lost")
    def lost(kind_name: str, item_id: uuid.UUID) -> Response:
        actor, kind = current_actor(), BoardKind(kind_name)
        before = item_of(actor, kind, item_id)
        reason = request.form.get("reason", "")
        if kind is BoardKind.DEALS:
            deals().mark_lost(actor, DealId(item_id), reason)
        else:
            leads().mark_lead_lost(actor, LeadId(item_id), reason)
        undo = url_for("web.reopen", kind_name=kind_name, item_id=item_id)
        return settled(actor, before["funnel"], kind, undo=undo, stage_id=before["stage"])

    @blueprint.post("/<any(leads, deals):kind_name>/<uuid:item_id>/reopen")
    def reopen(kind_name: str, item_id: uuid.UUID) -> Response:
        """«Отменить» after «Успешно» or «Провалено»: back into the stage it left (of the
        board's funnel, as a move)."""
        actor, kind = current_actor(), BoardKind(kind_name)
        stage_id, funnel_id = _stage_field(), _funnel_field()
        if kind is BoardKind.DEALS:
            deals().reopen(actor, DealId(item_id), stage_id)
        else:
            leads().reopen_lead(actor, LeadId(item_id), stage_id)
        return settled(actor, funnel_id, kind, card=card_of(actor, kind, item_id))
