"""A state machine over HTTP against a live `crm serve`: leads and deals created, moved to any
stage (final ones too), converted, won, lost, reopened and deleted through the API, with the
machine's own model of what each step should do. After every step the contract's rules are
read back through the API: a lead's status and stage agree, a deal is won or lost exactly as
its stage and marks say, closed_at is set exactly when closed, one deal per lead, the lists
count what exists and the funnel statistics add up to what the lists show."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.integration.conftest import BACKENDS
from tests.integration.http_contract.conftest import PASSWORD, Api, fresh_database, serving

SETTINGS = settings(
    max_examples=15,
    stateful_step_count=25,
    deadline=None,
    database=None,
    # No shrinking: over HTTP it can take minutes, and a run must stay bounded. The report
    # still lists every step; add Phase.shrink locally to get the shortest one.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
PROBLEM = "application/problem+json"

# The three funnels of every run: the six default stages; success and failure stages out of
# order (a mark goes to the one of lowest order); and no final stage at all.
FUNNELS: tuple[list[dict[str, Any]] | None, ...] = (
    None,
    [
        {"name": "Первая", "order": 10},
        {"name": "Проигрыш", "order": 20, "is_final": True},
        {"name": "Вторая", "order": 30},
        {"name": "Победа поздняя", "order": 50, "is_final": True, "is_success": True},
        {"name": "Победа", "order": 40, "is_final": True, "is_success": True},
        {"name": "Отказ поздний", "order": 60, "is_final": True},
    ],
    [{"name": "X", "order": 1}, {"name": "Y", "order": 2}],
)

picks = st.integers(min_value=0, max_value=63)
# Mostly a stage of the object's own funnel (final ones included), sometimes another's.
foreign = st.sampled_from([False, False, False, False, True])
money = st.sampled_from(["0", "1500.50", 250, "9999999999.99"])  # at most 12 digits
reasons = st.sampled_from(["", "Дорого", "я" * 1000, "я" * 1001])


@dataclass(frozen=True)
class Stage:
    id: str
    funnel: str
    order: int
    is_final: bool
    is_success: bool

    @property
    def is_failure(self) -> bool:
        return self.is_final and not self.is_success


@dataclass
class Funnel:
    id: str
    stages: list[Stage]

    def _lowest(self, success: bool) -> Stage | None:
        final = [s for s in self.stages if s.is_final and s.is_success == success]
        return min(final, key=lambda stage: stage.order, default=None)

    @property
    def success_stage(self) -> Stage | None:
        return self._lowest(success=True)

    @property
    def failure_stage(self) -> Stage | None:
        return self._lowest(success=False)


@dataclass
class LeadModel:
    id: str
    funnel: str
    stage: str
    value: Decimal
    status: str = "open"
    deal: str | None = None
    lost_reason: str = ""
    # While closed: None until first read back, then the value that must not change.
    closed_at: str | None = None


@dataclass
class DealModel:
    id: str
    funnel: str
    stage: str
    amount: Decimal
    lead: str | None = None
    is_won: bool = False
    is_lost: bool = False
    lost_reason: str = ""
    closed_at: str | None = None

    @property
    def is_closed(self) -> bool:
        return self.is_won or self.is_lost


def as_money(value: str | int) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


@dataclass
class Answer:
    status: int
    body: Any
    content_type: str


class PipelineOverHttp(RuleBasedStateMachine):
    """The transitions of leads and deals, driven over HTTP; set `api` on a subclass."""

    api: ClassVar[Api]

    def __init__(self) -> None:
        super().__init__()
        self.funnels: list[Funnel] = []
        self.stages: dict[str, Stage] = {}
        self.leads: dict[str, LeadModel] = {}
        self.deals: dict[str, DealModel] = {}
        self.contact = ""

    # --- HTTP ----------------------------------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None) -> Answer:
        response = self.api.request(method, path, json=body)
        content_type = response.headers.get("Content-Type", "").partition(";")[0]
        assert response.status_code < 500, f"{method} {path} -> {response.status_code}"
        payload = response.json() if response.content else None
        return Answer(response.status_code, payload, content_type)

    def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        answer = self.call(method, path, body)
        assert answer.status == status, f"{method} {path} -> {answer.status}: {answer.body}"
        return answer.body

    def refused(
        self, answer: Answer, status: int, field: str | None = None, what: str = ""
    ) -> None:
        """A refusal as the contract writes it: 400 or 409 problem+json with a `detail`."""
        assert answer.status == status, f"{what}: expected {status}, got {answer.status}"
        assert answer.content_type == PROBLEM, answer.content_type
        assert isinstance(answer.body.get("detail"), str) and answer.body["detail"], answer.body
        if status == 400:
            assert isinstance(answer.body.get("errors"), dict), answer.body
            if field is not None:
                assert field in answer.body["errors"], answer.body

    # --- set-up of each run --------------------------------------------------------------------

    @initialize()
    def company_data(self) -> None:
        """Funnels and a contact of this run alone: its lists are filtered by the contact."""
        for n, stages in enumerate(FUNNELS):
            body: dict[str, Any] = {"name": f"Воронка {n} {uuid.uuid4().hex[:8]}"}
            if stages is not None:
                body["stages"] = stages
            created = self.ok("POST", "funnels/", body, 201)
            funnel = Funnel(
                created["id"],
                [
                    Stage(s["id"], created["id"], s["order"], s["is_final"], s["is_success"])
                    for s in created["stages"]
                ],
            )
            self.funnels.append(funnel)
            self.stages.update({stage.id: stage for stage in funnel.stages})
        contact = {"first_name": "Машина", "email": f"{uuid.uuid4().hex[:12]}@example.com"}
        self.contact = self.ok("POST", "contacts/", contact, 201)["id"]

    # --- picking -------------------------------------------------------------------------------

    def _funnel(self, pick: int) -> Funnel:
        return self.funnels[pick % len(self.funnels)]

    def _stage_for(self, funnel_id: str, pick: int, elsewhere: bool) -> Stage:
        """A stage of the funnel (any of them, final ones too), or of another funnel."""
        choices = [s for s in self.stages.values() if (s.funnel != funnel_id) == elsewhere]
        return sorted(choices, key=lambda s: (s.funnel, s.order))[pick % len(choices)]

    def _first_stage(self, funnel_id: str) -> Stage:
        return min(
            (s for s in self.stages.values() if s.funnel == funnel_id), key=lambda s: s.order
        )

    def _lead(self, pick: int) -> LeadModel:
        return list(self.leads.values())[pick % len(self.leads)]

    def _deal(self, pick: int) -> DealModel:
        return list(self.deals.values())[pick % len(self.deals)]

    # --- leads ---------------------------------------------------------------------------------

    @rule(funnel=picks, stage=st.none() | picks, elsewhere=foreign, value=money)
    def create_lead(self, funnel: int, stage: int | None, elsewhere: bool, value: Any) -> None:
        into = self._funnel(funnel)
        target = self._stage_for(into.id, stage, elsewhere) if stage is not None else None
        body = {
            "contact": self.contact,
            "funnel": into.id,
            "title": "Лид",
            "estimated_value": value,
        }
        if target is not None:
            body["stage"] = target.id
        answer = self.call("POST", "leads/", body)
        if target is not None and (target.funnel != into.id or target.is_final):
            # Another funnel's stage, or a final one (an open lead stands in a non-final stage).
            self.refused(answer, 400, "stage", "a lead created into that stage")
            return
        assert answer.status == 201, answer.body
        placed = target or self._first_stage(into.id)
        self.leads[answer.body["id"]] = LeadModel(
            answer.body["id"], into.id, placed.id, as_money(value)
        )

    @precondition(lambda self: self.leads)
    @rule(lead=picks, stage=picks, elsewhere=foreign)
    def move_lead(self, lead: int, stage: int, elsewhere: bool) -> None:
        model = self._lead(lead)
        target = self._stage_for(model.funnel, stage, elsewhere)
        answer = self.call("POST", f"leads/{model.id}/move_to_stage/", {"stage_id": target.id})
        if target.funnel != model.funnel:
            self.refused(answer, 400, "stage_id", "a lead moved to another funnel's stage")
        elif model.status != "open":
            self.refused(answer, 409, what=f"a {model.status} lead moved")
        elif target.is_final and target.is_success:
            self.refused(answer, 409, what="a lead moved into a success stage")
        else:
            assert answer.status == 200, answer.body
            if target.id != model.stage:
                model.stage = target.id
                if target.is_failure:
                    model.status, model.lost_reason = "lost", ""

    @precondition(lambda self: self.leads)
    @rule(lead=picks, stage=st.none() | picks, elsewhere=foreign, amount=st.none() | money)
    def convert_lead(self, lead: int, stage: int | None, elsewhere: bool, amount: Any) -> None:
        model = self._lead(lead)
        target = self._stage_for(model.funnel, stage, elsewhere) if stage is not None else None
        body: dict[str, Any] = {}
        if target is not None:
            body["stage_id"] = target.id
        if amount is not None:
            body["amount"] = amount
        answer = self.call("POST", f"leads/{model.id}/convert_to_deal/", body)
        if model.status != "open":
            self.refused(answer, 409, what=f"a {model.status} lead converted")
        elif target is not None and target.funnel != model.funnel:
            self.refused(answer, 400, "stage_id", "a lead converted into another funnel")
        else:
            assert answer.status == 201, answer.body
            value = model.value if amount is None else as_money(amount)
            self._converted(model, answer.body, target or self.stages[model.stage], value)

    def _converted(
        self, lead: LeadModel, deal: dict[str, Any], stage: Stage, amount: Decimal
    ) -> None:
        """The deal a lead became: in that stage, born won or lost in a final one."""
        self.deals[deal["id"]] = DealModel(
            deal["id"],
            lead.funnel,
            stage.id,
            amount,
            lead=lead.id,
            is_won=stage.is_final and stage.is_success,
            is_lost=stage.is_failure,
        )
        lead.status, lead.deal, lead.closed_at = "converted", deal["id"], None

    @precondition(lambda self: self.leads)
    @rule(lead=picks, reason=reasons)
    def mark_lead_lost(self, lead: int, reason: str) -> None:
        model = self._lead(lead)
        answer = self.call("POST", f"leads/{model.id}/mark_lost/", {"reason": reason})
        if len(reason) > 1000:
            self.refused(answer, 400, "reason", "a reason over 1000 characters")
        elif model.status == "converted":
            self.refused(answer, 409, what="a converted lead marked lost")
        else:
            assert answer.status == 200, answer.body
            if model.status == "open":  # marking a lost lead lost again changes nothing
                model.status, model.lost_reason = "lost", reason
                failure = self.funnels_by_id[model.funnel].failure_stage
                if failure is not None:
                    model.stage = failure.id

    @precondition(lambda self: self.leads)
    @rule(lead=picks, stage=picks, elsewhere=foreign)
    def reopen_lead(self, lead: int, stage: int, elsewhere: bool) -> None:
        model = self._lead(lead)
        target = self._stage_for(model.funnel, stage, elsewhere)
        answer = self.call("POST", f"leads/{model.id}/reopen/", {"stage_id": target.id})
        if target.funnel != model.funnel:
            self.refused(answer, 400, "stage_id", "a lead reopened into another funnel")
        elif model.status != "lost":
            self.refused(answer, 409, what=f"a {model.status} lead reopened")
        elif target.is_final:
            self.refused(answer, 400, "stage_id", "a lead reopened into a final stage")
        else:
            assert answer.status == 200, answer.body
            model.status, model.stage, model.lost_reason, model.closed_at = (
                "open",
                target.id,
                "",
                None,
            )

    @precondition(lambda self: self.leads)
    @rule(lead=picks)
    def delete_lead(self, lead: int) -> None:
        model = self._lead(lead)
        self.ok("DELETE", f"leads/{model.id}/", status=204)
        del self.leads[model.id]
        for deal in self.deals.values():
            if deal.lead == model.id:
                deal.lead = None  # the deal stays; it no longer names a lead
        self.refused(self.call("GET", f"leads/{model.id}/"), 404, what="a deleted lead")

    # --- deals ---------------------------------------------------------------------------------

    @rule(
        funnel=st.none() | picks,
        stage=st.none() | picks,
        elsewhere=foreign,
        amount=st.none() | money,
        lead=st.none() | picks,
    )
    def create_deal(
        self,
        funnel: int | None,
        stage: int | None,
        elsewhere: bool,
        amount: Any,
        lead: int | None,
    ) -> None:
        """A deal of its own, or one naming a lead: that lead's conversion. No funnel pick
        means the lead's own funnel (or the first one)."""
        named = self._lead(lead) if lead is not None and self.leads else None
        if funnel is None:
            into = self.funnels_by_id[named.funnel] if named is not None else self.funnels[0]
        else:
            into = self._funnel(funnel)
        target = self._stage_for(into.id, stage, elsewhere) if stage is not None else None
        body: dict[str, Any] = {"contact": self.contact, "funnel": into.id, "title": "Сделка"}
        if target is not None:
            body["stage"] = target.id
        if amount is not None:
            body["amount"] = amount
        if named is not None:
            body["lead"] = named.id
        answer = self.call("POST", "deals/", body)
        if named is not None and (named.funnel != into.id or named.status != "open"):
            self.refused(answer, 400, "lead", "a deal naming a lead it cannot take")
        elif target is not None and target.funnel != into.id:
            self.refused(answer, 400, "stage", "a deal created into another funnel's stage")
        else:
            assert answer.status == 201, answer.body
            placed = target or (
                self.stages[named.stage] if named is not None else self._first_stage(into.id)
            )
            default = named.value if named is not None else Decimal("0.00")
            value = default if amount is None else as_money(amount)
            if named is not None:
                self._converted(named, answer.body, placed, value)
            else:
                self.deals[answer.body["id"]] = DealModel(
                    answer.body["id"],
                    into.id,
                    placed.id,
                    value,
                    is_won=placed.is_final and placed.is_success,
                    is_lost=placed.is_failure,
                )

    @precondition(lambda self: self.deals)
    @rule(deal=picks, stage=picks, elsewhere=foreign)
    def move_deal(self, deal: int, stage: int, elsewhere: bool) -> None:
        model = self._deal(deal)
        target = self._stage_for(model.funnel, stage, elsewhere)
        answer = self.call("POST", f"deals/{model.id}/move_to_stage/", {"stage_id": target.id})
        if target.funnel != model.funnel:
            self.refused(answer, 400, "stage_id", "a deal moved to another funnel's stage")
        elif model.is_closed:
            self.refused(answer, 409, what="a closed deal moved")
        else:
            assert answer.status == 200, answer.body
            if target.id != model.stage:
                model.stage = target.id
                if target.is_final:
                    model.is_won, model.is_lost = target.is_success, target.is_failure

    @precondition(lambda self: self.deals)
    @rule(deal=picks)
    def mark_won(self, deal: int) -> None:
        model = self._deal(deal)
        answer = self.call("POST", f"deals/{model.id}/mark_won/")
        if model.is_lost:
            self.refused(answer, 409, what="a lost deal marked won")
            return
        assert answer.status == 200, answer.body
        if not model.is_won:  # a won deal marked won again changes nothing
            model.is_won = True
            success = self.funnels_by_id[model.funnel].success_stage
            if success is not None:
                model.stage = success.id

    @precondition(lambda self: self.deals)
    @rule(deal=picks, reason=reasons)
    def mark_deal_lost(self, deal: int, reason: str) -> None:
        model = self._deal(deal)
        answer = self.call("POST", f"deals/{model.id}/mark_lost/", {"reason": reason})
        if len(reason) > 1000:
            self.refused(answer, 400, "reason", "a reason over 1000 characters")
        elif model.is_won:
            self.refused(answer, 409, what="a won deal marked lost")
        else:
            assert answer.status == 200, answer.body
            if not model.is_lost:  # a lost deal marked lost again changes nothing
                model.is_lost, model.lost_reason = True, reason
                failure = self.funnels_by_id[model.funnel].failure_stage
                if failure is not None:
                    model.stage = failure.id

    @precondition(lambda self: self.deals)
    @rule(deal=picks, stage=picks, elsewhere=foreign)
    def reopen_deal(self, deal: int, stage: int, elsewhere: bool) -> None:
        model = self._deal(deal)
        target = self._stage_for(model.funnel, stage, elsewhere)
        answer = self.call("POST", f"deals/{model.id}/reopen/", {"stage_id": target.id})
        if target.funnel != model.funnel:
            self.refused(answer, 400, "stage_id", "a deal reopened into another funnel")
        elif not model.is_closed:
            self.refused(answer, 409, what="an open deal reopened")
        elif target.is_final:
            self.refused(answer, 400, "stage_id", "a deal reopened into a final stage")
        else:
            assert answer.status == 200, answer.body
            model.is_won = model.is_lost = False
            model.stage, model.lost_reason, model.closed_at = target.id, "", None

    @precondition(lambda self: self.deals)
    @rule(deal=picks)
    def delete_deal(self, deal: int) -> None:
        model = self._deal(deal)
        self.ok("DELETE", f"deals/{model.id}/", status=204)
        del self.deals[model.id]
        for lead in self.leads.values():
            if lead.deal == model.id:
                lead.deal = None  # still converted: what it became is gone
        self.refused(self.call("GET", f"deals/{model.id}/"), 404, what="a deleted deal")

    @property
    def funnels_by_id(self) -> dict[str, Funnel]:
        return {funnel.id: funnel for funnel in self.funnels}

    # --- what holds after every step -----------------------------------------------------------

    def _listed(self, resource: str, **filters: str) -> list[dict[str, Any]]:
        params = {"contact": self.contact, "page_size": "500", **filters}
        response = self.api.get(f"{resource}/", params=params)
        assert response.status_code == 200, response.text
        listed = response.json()
        assert listed["count"] == len(listed["results"]), listed["count"]
        return list(listed["results"])

    @invariant()
    def leads_agree_with_their_stages(self) -> None:
        if not self.contact:
            return
        rows = {row["id"]: row for row in self._listed("leads")}
        assert set(rows) == set(self.leads), "the list shows other leads than exist"
        for lead_id, row in rows.items():
            model = self.leads[lead_id]
            stage = self.stages[row["stage"]]
            # The contract's rules, read from the API alone.
            assert row["status"] in ("open", "converted", "lost"), row
            if row["status"] == "open":
                assert not stage.is_final, f"an open lead in a final stage: {row}"
            assert (row["closed_at"] is None) == (row["status"] == "open"), row
            # The model: what the steps should have done.
            expected = (model.status, model.stage, model.funnel, model.deal, model.lost_reason)
            seen = (row["status"], row["stage"], row["funnel"], row["deal"], row["lost_reason"])
            assert seen == expected, f"lead {lead_id}: {seen} != {expected}"
            assert Decimal(row["estimated_value"]) == model.value, row
            self._closed_at(model, row)
        open_leads = self._listed("leads", status="open")
        assert {row["id"] for row in open_leads} == {
            lead.id for lead in self.leads.values() if lead.status == "open"
        }

    @invariant()
    def deals_are_won_or_lost_as_their_stages_say(self) -> None:
        if not self.contact:
            return
        rows = {row["id"]: row for row in self._listed("deals")}
        assert set(rows) == set(self.deals), "the list shows other deals than exist"
        for deal_id, row in rows.items():
            model = self.deals[deal_id]
            stage = self.stages[row["stage"]]
            assert not (row["is_won"] and row["is_lost"]), f"won and lost at once: {row}"
            if stage.is_final:
                assert (row["is_won"], row["is_lost"]) == (stage.is_success, stage.is_failure)
            closed = row["is_won"] or row["is_lost"]
            assert (row["closed_at"] is not None) == closed, row
            expected = (
                model.is_won,
                model.is_lost,
                model.stage,
                model.lead,
                model.lost_reason,
            )
            seen = (row["is_won"], row["is_lost"], row["stage"], row["lead"], row["lost_reason"])
            assert seen == expected, f"deal {deal_id}: {seen} != {expected}"
            assert Decimal(row["amount"]) == model.amount, row
            self._closed_at(model, row)
        named = [row["lead"] for row in rows.values() if row["lead"] is not None]
        assert len(named) == len(set(named)), "two deals name one lead"
        for lead in self.leads.values():
            if lead.deal is not None:
                assert rows[lead.deal]["lead"] == lead.id, "a lead and its deal disagree"
        won = self._listed("deals", is_won="true")
        assert {row["id"] for row in won} == {d.id for d in self.deals.values() if d.is_won}

    def _closed_at(self, model: LeadModel | DealModel, row: dict[str, Any]) -> None:
        """Set when it closed, and unchanged while it stays closed (a repeated mark is a
        no-op); cleared on reopening."""
        if row["closed_at"] is None:
            model.closed_at = None
        elif model.closed_at is None:
            model.closed_at = row["closed_at"]
        else:
            assert row["closed_at"] == model.closed_at, f"closed_at changed: {row}"

    @invariant()
    def statistics_add_up_to_the_lists(self) -> None:
        if not self.contact:
            return
        for funnel in self.funnels:
            leads = [lead for lead in self.leads.values() if lead.funnel == funnel.id]
            deals = [deal for deal in self.deals.values() if deal.funnel == funnel.id]
            statistics = self.ok("GET", f"funnels/{funnel.id}/statistics/")
            assert statistics["leads_count"] == len(leads)
            assert statistics["deals_count"] == len(deals)
            assert statistics["won_deals"] == sum(d.is_won for d in deals)
            assert statistics["lost_deals"] == sum(d.is_lost for d in deals)
            assert statistics["open_deals"] == sum(not d.is_closed for d in deals)
            assert Decimal(statistics["won_amount"]) == sum(
                (d.amount for d in deals if d.is_won), Decimal(0)
            )
            assert Decimal(statistics["pipeline_amount"]) == sum(
                (d.amount for d in deals if not d.is_closed), Decimal(0)
            )
            per_stage = {row["stage_id"]: row for row in statistics["stages_statistics"]}
            assert set(per_stage) == {stage.id for stage in funnel.stages}
            for stage in funnel.stages:
                row = per_stage[stage.id]
                here = [lead for lead in leads if lead.stage == stage.id]
                open_here = [lead for lead in here if lead.status == "open"]
                deals_here = [deal for deal in deals if deal.stage == stage.id]
                open_deals_here = [deal for deal in deals_here if not deal.is_closed]
                expected = (len(here), len(deals_here), len(open_here) + len(open_deals_here))
                seen = (row["leads_count"], row["deals_count"], row["open_count"])
                assert seen == expected, f"stage {stage.order} of {funnel.id}: {row}"
                open_amount = sum((lead.value for lead in open_here), Decimal(0)) + sum(
                    (deal.amount for deal in open_deals_here), Decimal(0)
                )
                assert Decimal(row["open_amount"]) == open_amount, row
                assert Decimal(row["leads_value"]) == sum((x.value for x in here), Decimal(0))
                assert Decimal(row["deals_amount"]) == sum(
                    (x.amount for x in deals_here), Decimal(0)
                )


@pytest.fixture(scope="module", params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One live server per backend for the module, with a company whose admin the machine is."""
    with ExitStack() as stack:
        workdir = Path(tmp_path_factory.mktemp("stateful"))
        url = stack.enter_context(fresh_database(str(request.param), workdir))
        server = stack.enter_context(serving(url, workdir))
        tag = uuid.uuid4().hex[:8]
        token = server.create_user(
            f"ООО Автомат {tag}", f"machine-{tag}@example.com", PASSWORD, "admin"
        )
        yield stack.enter_context(Api(server.base_url, token))


def test_the_pipeline_rules_hold_through_the_api(api: Api) -> None:
    machine = type("PipelineOverThisServer", (PipelineOverHttp,), {"api": api})
    run_state_machine_as_test(machine, settings=SETTINGS)
