"""Funnel statistics against a plain-Python model of the same random history (CONTRACT section 5).

Leads and deals are created, moved, converted, won, lost, reopened and re-priced through the
real use cases on the SQL unit of work; the test records what each action did to a small model
(current stage and status, amounts, the stages every opportunity ever stood in) and, after every
step, asks `SqlReadModel.funnel_statistics` for the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_adapters.sql.read_model import SqlReadModel
from crm_adapters.sql.unit_of_work import SqlUnitOfWork
from crm_core import Conflict, Money, Probability, Stage, StageSpec, ValidationFailed
from crm_core.commands import UNSET
from crm_core.ports import StatisticsFilter
from crm_core.services.pipeline import ChangeDeal, ChangeLead, ConvertLead, CreateDeal
from crm_core.values import ContactId, DealId, FunnelId, LeadId
from tests.integration.sql.conftest import World, new_world

CENT = Decimal("0.01")
LARGEST = Decimal("9999999999.99")  # twelve digits: the largest amount a person may enter

SHAPES: dict[str, tuple[StageSpec, ...] | None] = {
    "default": None,  # Новый лид 1 .. Переговоры 4, success 5, failure 6
    # Final stages between open ones, two of each kind: wins and losses go to the lowest.
    "interleaved": (
        StageSpec("A", 10),
        StageSpec("Lost", 20, is_final=True),
        StageSpec("B", 30),
        StageSpec("Won", 40, is_final=True, is_success=True),
        StageSpec("Won late", 50, is_final=True, is_success=True),
        StageSpec("Lost late", 60, is_final=True),
    ),
    # No final stage: a won or lost deal, and a lost lead, stay where they stand.
    "open only": (StageSpec("X", 1), StageSpec("Y", 2), StageSpec("Z", 3)),
}


# --- the model ---------------------------------------------------------------------------------


@attrs.define
class ModelLead:
    id: LeadId
    stage: Stage
    value: Decimal
    probability: int
    opportunity: int
    status: str = "open"  # open, converted, lost


@attrs.define
class ModelDeal:
    id: DealId
    stage: Stage
    amount: Decimal
    probability: int
    opportunity: int
    won: bool = False
    lost: bool = False

    @property
    def is_open(self) -> bool:
        return not (self.won or self.lost)


@attrs.define
class Model:
    """What the history did, kept by the test alone (it never reads the database back)."""

    stages: list[Stage]  # ordered
    leads: list[ModelLead] = attrs.field(factory=list)
    deals: list[ModelDeal] = attrs.field(factory=list)
    # Per opportunity (a lead, a deal, or a lead with the deal it became): the orders of
    # every stage it ever stood in.
    reached: list[set[int]] = attrs.field(factory=list)

    def new_opportunity(self) -> int:
        self.reached.append(set())
        return len(self.reached) - 1

    def stand(self, subject: ModelLead | ModelDeal, stage: Stage) -> None:
        subject.stage = stage
        self.reached[subject.opportunity].add(stage.order)

    def _lowest(self, success: bool) -> Stage | None:
        finals = [s for s in self.stages if s.is_final and s.is_success == success]
        return finals[0] if finals else None

    @property
    def success_stage(self) -> Stage | None:
        return self._lowest(True)

    @property
    def failure_stage(self) -> Stage | None:
        return self._lowest(False)

    def settle_deal(self, deal: ModelDeal) -> None:
        """A deal standing in a final stage is won or lost by it."""
        if deal.stage.is_final:
            deal.won, deal.lost = deal.stage.is_success, not deal.stage.is_success

    def expected(self) -> tuple[dict[str, Any], Decimal]:
        """The statistics the contract asks for, and the exact weighted pipeline (unrounded)."""
        deals, leads = self.deals, self.leads
        won = [d for d in deals if d.won]
        lost = [d for d in deals if d.lost]
        open_deals = [d for d in deals if d.is_open]
        converted = [lead for lead in leads if lead.status == "converted"]
        furthest = [max(orders) for orders in self.reached if orders]
        stages = []
        previous: int | None = None
        for stage in self.stages:
            here_leads = [lead for lead in leads if lead.stage is stage]
            here_deals = [d for d in deals if d.stage is stage]
            open_leads = [lead for lead in here_leads if lead.status == "open"]
            open_here = [d for d in here_deals if d.is_open]
            reached = sum(1 for top in furthest if top >= stage.order)
            stages.append(
                {
                    "stage_id": stage.id,
                    "order": stage.order,
                    "leads_count": len(here_leads),
                    "leads_value": money(lead.value for lead in here_leads),
                    "deals_count": len(here_deals),
                    "deals_amount": money(d.amount for d in here_deals),
                    "open_count": len(open_leads) + len(open_here),
                    "open_amount": money(
                        [lead.value for lead in open_leads] + [d.amount for d in open_here]
                    ),
                    "reached_count": reached,
                    "conversion_from_previous": (
                        None if previous is None else ratio(reached, previous)
                    ),
                }
            )
            previous = reached
        totals = {
            "leads_count": len(leads),
            "deals_count": len(deals),
            "open_deals": len(open_deals),
            "won_deals": len(won),
            "lost_deals": len(lost),
            "total_amount": money(d.amount for d in won),
            "won_amount": money(d.amount for d in won),
            "lost_amount": money(d.amount for d in lost),
            "pipeline_amount": money(d.amount for d in open_deals),
            "win_rate": ratio(len(won), len(won) + len(lost)),
            "lead_to_deal_rate": ratio(len(converted), len(leads)),
            "stages_statistics": stages,
        }
        weighted = sum((d.amount * d.probability for d in open_deals), Decimal(0)) / 100
        return totals, weighted


def money(amounts: Any) -> Decimal:
    return sum(amounts, Decimal(0)).quantize(CENT)


def ratio(part: int, whole: int) -> float | None:
    """A fraction rounded to 4 places, None over nothing."""
    return round(part / whole, 4) if whole else None


# --- the history, driven through the use cases ----------------------------------------------


def attempt(refusal: type[Exception] | None, action: Callable[[], Any]) -> Any:
    """Runs the action; when the model says it is refused, it must be refused with `refusal`."""
    if refusal is None:
        return action()
    with pytest.raises(refusal):
        action()
    return None


@attrs.define
class History:
    world: World
    funnel_id: FunnelId
    contact_id: ContactId
    model: Model

    @classmethod
    def start(cls, uow: Callable[[], SqlUnitOfWork], shape: str) -> History:
        world = new_world(uow)
        funnel_id = world.funnels.create_funnel(world.admin, shape, stages=SHAPES[shape])
        with world.uow() as unit:
            stages = unit.funnels.get(world.company_id, funnel_id).ordered_stages
        return cls(world, funnel_id, world.contact(), Model(stages))

    def stage(self, pick: int) -> Stage:
        return self.model.stages[pick % len(self.model.stages)]

    def stage_after(self, current: Stage, pick: int) -> Stage:
        """A move's target counted on from the current stage: 0 is the next one (wrapping
        round), and only a pick of one less than the number of stages stays put."""
        stages = self.model.stages
        return stages[(stages.index(current) + 1 + pick) % len(stages)]

    def open_stage(self, pick: int) -> Stage:
        opened = [stage for stage in self.model.stages if not stage.is_final]
        return opened[pick % len(opened)]

    # A pick names a lead or deal counting from the newest. With `anyone` false it names one
    # the action can change (an open lead; an open deal, or a closed one to reopen) when there
    # is one, so that short histories still move and convert things; with `anyone` true, any
    # (refusals included).

    def lead(self, pick: int, anyone: bool = True) -> ModelLead | None:
        leads = self.model.leads
        if not anyone:
            leads = [lead for lead in leads if lead.status == "open"] or leads
        return leads[-1 - pick % len(leads)] if leads else None

    def deal(self, pick: int, anyone: bool = True, is_open: bool = True) -> ModelDeal | None:
        deals = self.model.deals
        if not anyone:
            deals = [deal for deal in deals if deal.is_open == is_open] or deals
        return deals[-1 - pick % len(deals)] if deals else None

    def apply(self, step: tuple[Any, ...]) -> None:
        name, *arguments = step
        getattr(self, name)(*arguments)

    # --- leads --------------------------------------------------------------------------------

    def create_lead(self, stage_pick: int | None, value: Decimal, probability: int) -> None:
        stage = self.model.stages[0] if stage_pick is None else self.stage(stage_pick)
        world = self.world
        lead_id = attempt(
            # An open lead stands in a non-final stage: creating one elsewhere is a field error.
            ValidationFailed if stage.is_final else None,
            lambda: world.lead(
                self.contact_id,
                self.funnel_id,
                stage_id=None if stage_pick is None else stage.id,
                estimated_value=Money(value),
                probability=Probability(probability),
            ),
        )
        if lead_id is None:
            return
        lead = ModelLead(lead_id, stage, value, probability, self.model.new_opportunity())
        self.model.leads.append(lead)
        self.model.stand(lead, stage)

    def move_lead(self, lead_pick: int, stage_pick: int, anyone: bool) -> None:
        lead = self.lead(lead_pick, anyone)
        if lead is None:
            return
        stage = self.stage_after(lead.stage, stage_pick)
        if lead.status != "open":
            refusal: type[Exception] | None = Conflict  # converted and lost leads keep their place
        elif stage is lead.stage:
            refusal = None  # nothing changes
        elif stage.is_final and stage.is_success:
            refusal = Conflict  # convert it instead
        else:
            refusal = None
        attempt(refusal, lambda: self.world.leads.move_lead(self.world.admin, lead.id, stage.id))
        if refusal is None and stage is not lead.stage:
            self.model.stand(lead, stage)
            if stage.is_final:
                lead.status = "lost"  # a move into a failure stage loses the lead

    def lose_lead(self, lead_pick: int, anyone: bool) -> None:
        lead = self.lead(lead_pick, anyone)
        if lead is None:
            return
        refusal = Conflict if lead.status == "converted" else None
        attempt(refusal, lambda: self.world.leads.mark_lead_lost(self.world.admin, lead.id, ""))
        if lead.status == "open":
            lead.status = "lost"
            failure = self.model.failure_stage
            if failure is not None:
                self.model.stand(lead, failure)

    def convert_lead(
        self, lead_pick: int, stage_pick: int | None, amount: Decimal | None, anyone: bool
    ) -> None:
        """The lead's conversion action (its own stage and value unless others are named)."""
        lead = self.lead(lead_pick, anyone)
        if lead is None:
            return
        stage = lead.stage if stage_pick is None else self.stage(stage_pick)
        command = ConvertLead(
            amount=None if amount is None else Money(amount),
            stage_id=None if stage_pick is None else stage.id,
        )
        deal_id = attempt(
            None if lead.status == "open" else Conflict,
            lambda: self.world.leads.convert_lead(self.world.admin, lead.id, command),
        )
        if deal_id is not None:
            self._converted(lead, deal_id, stage, lead.value if amount is None else amount)

    def deal_from_lead(
        self, lead_pick: int, amount: Decimal | None, probability: int | None, anyone: bool
    ) -> None:
        """A deal created naming the lead: that lead's conversion, in the lead's stage, with
        the lead's value and probability unless the command names others."""
        lead = self.lead(lead_pick, anyone)
        if lead is None:
            return
        command = CreateDeal(
            contact_id=self.contact_id,
            funnel_id=self.funnel_id,
            title="Из лида",
            lead_id=lead.id,
            amount=UNSET if amount is None else Money(amount),
            probability=UNSET if probability is None else Probability(probability),
        )
        deal_id = attempt(
            None if lead.status == "open" else ValidationFailed,
            lambda: self.world.deals.create_deal(self.world.admin, command),
        )
        if deal_id is not None:
            value = lead.value if amount is None else amount
            self._converted(lead, deal_id, lead.stage, value, probability)

    def _converted(
        self,
        lead: ModelLead,
        deal_id: DealId,
        stage: Stage,
        amount: Decimal,
        probability: int | None = None,
    ) -> None:
        lead.status = "converted"
        probability = lead.probability if probability is None else probability
        deal = ModelDeal(deal_id, stage, amount, probability, lead.opportunity)
        self.model.deals.append(deal)
        self.model.stand(deal, stage)
        self.model.settle_deal(deal)

    def reprice_lead(self, lead_pick: int, value: Decimal) -> None:
        """The value may change whatever the lead's status."""
        lead = self.lead(lead_pick)
        if lead is None:
            return
        change = ChangeLead(estimated_value=Money(value))
        self.world.leads.update_lead(self.world.admin, lead.id, change)
        lead.value = value

    # --- deals --------------------------------------------------------------------------------

    def create_deal(self, stage_pick: int | None, amount: Decimal, probability: int) -> None:
        """A deal of its own; one created into a final stage is born won or lost."""
        stage = self.model.stages[0] if stage_pick is None else self.stage(stage_pick)
        command = CreateDeal(
            contact_id=self.contact_id,
            funnel_id=self.funnel_id,
            title="Сделка",
            stage_id=None if stage_pick is None else stage.id,
            amount=Money(amount),
            probability=Probability(probability),
        )
        deal_id = self.world.deals.create_deal(self.world.admin, command)
        deal = ModelDeal(deal_id, stage, amount, probability, self.model.new_opportunity())
        self.model.deals.append(deal)
        self.model.stand(deal, stage)
        self.model.settle_deal(deal)

    def move_deal(self, deal_pick: int, stage_pick: int, anyone: bool) -> None:
        deal = self.deal(deal_pick, anyone)
        if deal is None:
            return
        stage = self.stage_after(deal.stage, stage_pick)
        attempt(
            None if deal.is_open else Conflict,  # reopen first
            lambda: self.world.deals.move_deal(self.world.admin, deal.id, stage.id),
        )
        if deal.is_open and stage is not deal.stage:
            self.model.stand(deal, stage)
            self.model.settle_deal(deal)

    def win_deal(self, deal_pick: int, anyone: bool) -> None:
        deal = self.deal(deal_pick, anyone)
        if deal is None:
            return
        attempt(
            Conflict if deal.lost else None,
            lambda: self.world.deals.mark_won(self.world.admin, deal.id),
        )
        if deal.is_open:
            deal.won = True
            success = self.model.success_stage
            if success is not None:
                self.model.stand(deal, success)

    def lose_deal(self, deal_pick: int, anyone: bool) -> None:
        deal = self.deal(deal_pick, anyone)
        if deal is None:
            return
        attempt(
            Conflict if deal.won else None,
            lambda: self.world.deals.mark_lost(self.world.admin, deal.id, "дорого"),
        )
        if deal.is_open:
            deal.lost = True
            failure = self.model.failure_stage
            if failure is not None:
                self.model.stand(deal, failure)

    def reopen_deal(self, deal_pick: int, stage_pick: int, anyone: bool) -> None:
        deal = self.deal(deal_pick, anyone, is_open=False)
        if deal is None:
            return
        # Aimed at a closed deal, into an open stage; or anywhere (a refusal, mostly).
        stage = self.stage(stage_pick) if anyone else self.open_stage(stage_pick)
        if deal.is_open:
            refusal: type[Exception] | None = Conflict
        elif stage.is_final:
            refusal = ValidationFailed  # only into an open stage
        else:
            refusal = None
        attempt(refusal, lambda: self.world.deals.reopen(self.world.admin, deal.id, stage.id))
        if refusal is None:
            deal.won = deal.lost = False
            self.model.stand(deal, stage)

    def reprice_deal(self, deal_pick: int, amount: Decimal, probability: int) -> None:
        deal = self.deal(deal_pick)
        if deal is None:
            return
        change = ChangeDeal(amount=Money(amount), probability=Probability(probability))
        self.world.deals.update_deal(self.world.admin, deal.id, change)
        deal.amount, deal.probability = amount, probability

    # --- the check ----------------------------------------------------------------------------

    def check(self, read_model: SqlReadModel) -> None:
        statistics = read_model.funnel_statistics(
            self.world.company_id, self.funnel_id, StatisticsFilter()
        )
        expected, weighted = self.model.expected()
        stage_keys = expected["stages_statistics"][0].keys() if self.model.stages else ()
        actual = {key: statistics[key] for key in expected if key != "stages_statistics"}
        actual["stages_statistics"] = [
            {key: stage[key] for key in stage_keys} for stage in statistics["stages_statistics"]
        ]
        assert actual == expected
        # Exact to the cent, however the half-cent of a probability-weighted sum is rounded.
        got = statistics["weighted_pipeline_amount"]
        assert abs(got - weighted) <= CENT / 2, (got, weighted)
        sums = [
            got,
            *(statistics[key] for key in ("total_amount", "won_amount", "lost_amount")),
            statistics["pipeline_amount"],
            *(
                stage[key]
                for stage in statistics["stages_statistics"]
                for key in ("leads_value", "deals_amount", "open_amount")
            ),
        ]
        assert all(isinstance(s, Decimal) and s.as_tuple().exponent == -2 for s in sums), sums


# --- strategies ------------------------------------------------------------------------------

picks = st.integers(min_value=0, max_value=63)
maybe_picks = st.none() | picks
amounts = st.sampled_from(
    [Decimal("0.00"), Decimal("0.01"), Decimal("0.05"), LARGEST, Decimal("9999999999.98")]
) | st.decimals(min_value=0, max_value=LARGEST, places=2)
probabilities = st.sampled_from([0, 1, 33, 50, 99, 100]) | st.integers(0, 100)

create_lead = st.tuples(st.just("create_lead"), maybe_picks, amounts, probabilities)
create_deal = st.tuples(st.just("create_deal"), maybe_picks, amounts, probabilities)
later_steps = st.one_of(
    create_lead,
    create_deal,
    st.tuples(st.just("move_lead"), picks, picks, st.booleans()),
    st.tuples(st.just("move_lead"), picks, picks, st.booleans()),
    st.tuples(st.just("lose_lead"), picks, st.booleans()),
    st.tuples(st.just("convert_lead"), picks, maybe_picks, st.none() | amounts, st.booleans()),
    st.tuples(
        st.just("deal_from_lead"),
        picks,
        st.none() | amounts,
        st.none() | probabilities,
        st.booleans(),
    ),
    st.tuples(st.just("reprice_lead"), picks, amounts),
    st.tuples(st.just("move_deal"), picks, picks, st.booleans()),
    st.tuples(st.just("move_deal"), picks, picks, st.booleans()),
    st.tuples(st.just("win_deal"), picks, st.booleans()),
    st.tuples(st.just("lose_deal"), picks, st.booleans()),
    st.tuples(st.just("reopen_deal"), picks, picks, st.booleans()),
    st.tuples(st.just("reprice_deal"), picks, amounts, probabilities),
)
# Each step comes after a pause of up to three days (zero included: two moves at one instant).
pauses = st.integers(min_value=0, max_value=3 * 86_400)
# A few leads and deals first, so that the later steps (moves and conversions weighted up) have
# something to act on: 7 to 15 steps in all.
histories = st.builds(
    lambda first, later: first + later,
    st.lists(st.tuples(pauses, create_lead | create_deal), min_size=2, max_size=5),
    st.lists(st.tuples(pauses, later_steps), min_size=5, max_size=10),
)


@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    shape=st.sampled_from(list(SHAPES)),
    history=histories,
)
def test_statistics_agree_with_a_model_of_the_history(
    uow: Callable[[], SqlUnitOfWork],
    read_model: SqlReadModel,
    shape: str,
    history: Sequence[tuple[int, tuple[Any, ...]]],
) -> None:
    # Every example is a company and funnel of its own in the module's database.
    run = History.start(uow, shape)
    run.check(read_model)
    for pause, step in history:
        run.world.clock.advance(seconds=pause)
        run.apply(step)
        run.check(read_model)


def test_sums_past_a_trillion(uow: Callable[[], SqlUnitOfWork], read_model: SqlReadModel) -> None:
    """A hundred and one of the largest amounts in each kind of sum: past 10^12, to the cent."""
    run = History.start(uow, "default")
    many = range(101)
    for _ in many:
        run.create_lead(1, LARGEST, 100)  # open, in Квалификация
        run.create_deal(2, LARGEST, 99)  # open, in Предложение
        run.create_deal(4, LARGEST, 0)  # born won, in Закрыта успешно
    run.convert_lead(0, None, None, anyone=False)
    run.check(read_model)
    expected, weighted = run.model.expected()
    assert expected["pipeline_amount"] > 10**12 and weighted > 10**12
    assert expected["won_amount"] > 10**12
    assert expected["stages_statistics"][1]["leads_value"] > 10**12
