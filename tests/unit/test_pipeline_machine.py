"""A state machine over a funnel's leads and deals, driven by random moves, conversions, wins,
losses, reopens, transfers, edits of contacts and titles, contacts made and deleted and stage
edits through the public use cases, with a clock that only moves forward. After every step the
transition rules are checked on the state read back.

`make_pipeline_machine` builds it over any unit of work: the unit tests run it on the fakes,
the integration tests may run the very same machine on the SQL unit of work.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from itertools import pairwise
from typing import Any, Protocol

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
)

from crm_core import (
    AccessUseCases,
    Actor,
    Conflict,
    ContactUseCases,
    Deal,
    DealUseCases,
    Funnel,
    FunnelUseCases,
    Lead,
    LeadStatus,
    LeadUseCases,
    NotFound,
    Role,
    StageSpec,
    ValidationFailed,
)
from crm_core.commands import UNSET, Maybe, Unset
from crm_core.ports import UnitOfWork
from crm_core.services.contacts import CreateContact
from crm_core.services.funnels import ChangeStage
from crm_core.services.pipeline import ChangeDeal, ChangeLead, ConvertLead, CreateDeal, CreateLead
from crm_core.values import ContactId, DealId, FunnelId, LeadId, StageId
from tests.fakes import FakeDatabase, FixedClock


class SteppingClock(Protocol):
    """A clock the machine can move forward (FixedClock of tests/fakes.py is one)."""

    def now(self) -> datetime: ...

    def advance(self, **delta: float) -> datetime: ...


class _TokensOnly:
    """The machine's user signs in with a token alone: no password is ever hashed."""

    def hash(self, password: str) -> str:
        raise AssertionError("the machine's user has no password")

    def verify(self, password_hash: str, password: str) -> bool:
        return False


FUNNELS: tuple[tuple[StageSpec, ...] | None, ...] = (
    None,  # the six default stages
    (
        StageSpec("A", 10),
        StageSpec("Lost", 20, is_final=True),
        StageSpec("B", 30),
        StageSpec("Won late", 50, is_final=True, is_success=True),
        StageSpec("Won", 40, is_final=True, is_success=True),
        StageSpec("Lost late", 60, is_final=True),
    ),
    (StageSpec("X", 1), StageSpec("Y", 2)),  # no final stage: wins and losses stay put
)

# Indices into the lists of the run, reduced modulo their length, so that strategies do not
# depend on ids that exist only once a run has started (and shrink towards the first one).
picks = st.integers(min_value=0, max_value=63)
maybe_picks = st.none() | picks
reasons = st.sampled_from(["", "дорого", "x" * 1000, "x" * 1001])
# A title left out, a good one, one at the limit, and two the domain refuses.
titles: st.SearchStrategy[Maybe[str]] = st.sampled_from(
    [UNSET, "Новое название", "я" * 255, " ", "я" * 256]
)
FLAGS = ((False, False), (True, False), (True, True))
DELETED_PICKS = 56  # picks from here on name a deleted contact, when there is one


def make_pipeline_machine(
    uow_factory: Callable[[], UnitOfWork],
    clock: SteppingClock,
    setup: Callable[[], Actor | None] | None = None,
) -> type[RuleBasedStateMachine]:
    """A RuleBasedStateMachine class over the use cases on `uow_factory` and `clock`.

    - `uow_factory` makes a unit of work (the port); the machine reads back only through it.
    - `clock` is shared with nothing else; the machine advances it by random steps >= 0.
    - `setup` runs at the start of every run (to empty a database, say). When it returns an
      Actor the run works as them (it needs an admin of a company with nothing in it);
      otherwise every run makes a company and an admin of its own through AccessUseCases,
      so runs never see each other's objects even in one shared database.

    Run it with `make_pipeline_machine(...).TestCase` and a `settings` of your choice.
    """

    class PipelineMachine(RuleBasedStateMachine):
        leads = Bundle("leads")
        deals = Bundle("deals")

        def __init__(self) -> None:
            super().__init__()
            actor = setup() if setup is not None else None
            self.actor = actor if actor is not None else self._new_company()
            self.funnel_uc = FunnelUseCases(uow_factory, clock)
            self.lead_uc = LeadUseCases(uow_factory, clock)
            self.deal_uc = DealUseCases(uow_factory, clock)
            self.contact_uc = ContactUseCases(uow_factory, clock)
            self.contact_ids: list[ContactId] = [
                self.contact_uc.create_contact(
                    self.actor, CreateContact(first_name="Иван", phone=phone)
                )
                for phone in ("+7 999 123-45-67", "8 916 000-11-22")
            ]
            self.deleted_contacts: set[ContactId] = set()
            self.funnel_ids: list[FunnelId] = [
                self.funnel_uc.create_funnel(self.actor, f"Воронка {n}", stages=stages)
                for n, stages in enumerate(FUNNELS)
            ]
            self.stage_ids: list[StageId] = [
                stage.id for funnel in self._funnels().values() for stage in funnel.ordered_stages
            ]
            self.lead_ids: list[LeadId] = []
            self.deal_ids: list[DealId] = []
            # Where a lead stood when it was first seen converted or lost: it never moves again.
            self.closed_leads: dict[LeadId, tuple[FunnelId, StageId, int]] = {}
            # The contact each won deal had when it was won: that contact became a client.
            self.won_with: dict[DealId, ContactId] = {}
            self.ever_won: set[ContactId] = set()

        @staticmethod
        def _new_company() -> Actor:
            access = AccessUseCases(uow_factory, clock, _TokensOnly())
            tag = uuid.uuid4().hex[:12]
            _, token = access.create_user(
                f"Machine {tag}", f"machine-{tag}@example.com", None, Role.ADMIN
            )
            actor = access.authenticate(token)
            assert actor is not None
            return actor

        # --- reading back ---------------------------------------------------------------

        def _funnels(self) -> dict[FunnelId, Funnel]:
            with uow_factory() as uow:
                return {fid: uow.funnels.get(self.actor.company_id, fid) for fid in self.funnel_ids}

        def _lead(self, lead_id: LeadId) -> Lead:
            with uow_factory() as uow:
                return uow.leads.get(self.actor.company_id, lead_id)

        def _deal(self, deal_id: DealId) -> Deal:
            with uow_factory() as uow:
                return uow.deals.get(self.actor.company_id, deal_id)

        def _stage(self, pick: int) -> tuple[Funnel, StageId]:
            stage_id = self.stage_ids[pick % len(self.stage_ids)]
            funnel = next(f for f in self._funnels().values() if f.has_stage(stage_id))
            return funnel, stage_id

        def _contact(self, pick: int) -> ContactId:
            """A contact of the run: a live one, or for a few picks one deleted since (a
            reference that fails). Small picks, where shrinking goes, name live ones."""
            live = [c for c in self.contact_ids if c not in self.deleted_contacts]
            deleted = [c for c in self.contact_ids if c in self.deleted_contacts]
            choices = deleted if (pick >= DELETED_PICKS and deleted) or not live else live
            return choices[pick % len(choices)]

        def _occupied(self, stage_id: StageId) -> bool:
            return any(self._lead(i).stage_id == stage_id for i in self.lead_ids) or any(
                self._deal(i).stage_id == stage_id for i in self.deal_ids
            )

        def _has_leads_or_deals(self, contact_id: ContactId) -> bool:
            return any(self._lead(i).contact_id == contact_id for i in self.lead_ids) or any(
                self._deal(i).contact_id == contact_id for i in self.deal_ids
            )

        # --- time ----------------------------------------------------------------------------

        @rule(seconds=st.integers(min_value=0, max_value=10 * 86_400))
        def time_passes(self, seconds: int) -> None:
            clock.advance(seconds=seconds)

        # --- contacts ----------------------------------------------------------------------------

        @rule()
        def create_contact(self) -> None:
            """A contact reachable by Telegram alone (a channel of its own since rev 2)."""
            contact_id = self.contact_uc.create_contact(
                self.actor, CreateContact(first_name="Пётр", telegram="@petr")
            )
            self.contact_ids.append(contact_id)

        @rule(contact=picks)
        def delete_contact(self, contact: int) -> None:
            """409 while the contact has leads or deals; the run keeps two contacts at least,
            to move leads and deals between."""
            contact_id = self._contact(contact)
            delete = self.contact_uc.delete_contact
            if contact_id in self.deleted_contacts:
                self._refused(NotFound, delete, self.actor, contact_id)
            elif self._has_leads_or_deals(contact_id):
                self._refused(Conflict, delete, self.actor, contact_id)
            elif len(self.contact_ids) - len(self.deleted_contacts) > 2:
                delete(self.actor, contact_id)
                self.deleted_contacts.add(contact_id)

        # --- leads -----------------------------------------------------------------------------

        @rule(target=leads, funnel=picks, stage=maybe_picks, contact=picks)
        def create_lead(self, funnel: int, stage: int | None, contact: int) -> Any:
            funnel_id = self.funnel_ids[funnel % len(self.funnel_ids)]
            contact_id = self._contact(contact)
            stage_funnel, stage_id = self._stage(stage) if stage is not None else (None, None)
            command = CreateLead(
                contact_id=contact_id, funnel_id=funnel_id, title="Лид", stage_id=stage_id
            )
            create = self.lead_uc.create_lead
            if contact_id in self.deleted_contacts:
                self._refused(ValidationFailed, create, self.actor, command, field="contact")
                return multiple()
            if stage_funnel is not None and stage_funnel.id != funnel_id:
                self._refused(ValidationFailed, create, self.actor, command, field="stage")
                return multiple()
            into = self._funnels()[funnel_id]
            target = into.stage(stage_id) if stage_id else into.ordered_stages[0]
            if target.is_final:
                # An open lead stands in a non-final stage: created into a final one is a 400.
                self._refused(ValidationFailed, create, self.actor, command, field="stage")
                return multiple()
            lead_id = create(self.actor, command)
            lead = self._lead(lead_id)
            assert (lead.status, lead.stage_id, lead.contact_id) == (
                LeadStatus.OPEN,
                target.id,
                contact_id,
            )
            self.lead_ids.append(lead_id)
            return lead_id

        @rule(lead_id=leads, stage=picks)
        def move_lead(self, lead_id: LeadId, stage: int) -> None:
            before = self._lead(lead_id)
            funnel, stage_id = self._stage(stage)
            target = funnel.stage(stage_id)
            move = self.lead_uc.move_lead
            if funnel.id != before.funnel_id:
                self._refused(ValidationFailed, move, self.actor, lead_id, stage_id)
            elif not before.is_open:
                self._refused(Conflict, move, self.actor, lead_id, stage_id)
            elif target.is_final and target.is_success:
                # A lead reaches a success stage only as a deal: convert it instead.
                self._refused(Conflict, move, self.actor, lead_id, stage_id)
            else:
                move(self.actor, lead_id, stage_id)
                after = self._lead(lead_id)
                moved = stage_id != before.stage_id
                assert after.stage_id == stage_id
                assert len(after.history) == len(before.history) + moved
                if target.is_failure:
                    assert (after.status, after.closed_at, after.lost_reason) == (
                        LeadStatus.LOST,
                        clock.now(),
                        "",
                    )
                else:
                    assert after.status is LeadStatus.OPEN

        @rule(lead_id=leads, funnel=picks, stage=maybe_picks)
        def patch_lead_funnel(self, lead_id: LeadId, funnel: int, stage: int | None) -> None:
            self._transfer(self._lead, self.lead_uc.update_lead, lead_id, funnel, stage)

        def _transfer(
            self,
            load: Callable[[Any], Lead | Deal],
            update: Callable[..., None],
            subject_id: Any,
            funnel: int,
            stage: int | None,
        ) -> None:
            """PUT/PATCH with `funnel` (and maybe `stage`): a transfer, or a move within."""
            before = load(subject_id)
            is_lead = isinstance(before, Lead)
            funnel_id = self.funnel_ids[funnel % len(self.funnel_ids)]
            stage_funnel, stage_id = self._stage(stage) if stage is not None else (None, None)
            command = (ChangeLead if is_lead else ChangeDeal)(
                funnel_id=funnel_id, stage_id=stage_id
            )
            closed = not before.is_open if isinstance(before, Lead) else before.is_closed
            if funnel_id == before.funnel_id and stage_id in (None, before.stage_id):
                update(self.actor, subject_id, command)
                assert len(load(subject_id).history) == len(before.history)
                return
            if stage_funnel is not None and stage_funnel.id != funnel_id:
                self._refused(ValidationFailed, update, self.actor, subject_id, command)
                return
            if closed:
                self._refused(Conflict, update, self.actor, subject_id, command)
                return
            into = self._funnels()[funnel_id]
            target = into.stage(stage_id) if stage_id else into.ordered_stages[0]
            if is_lead and target.is_final:
                # Editing a lead into a final stage is a 400 (mark_lost or convert instead).
                self._refused(
                    ValidationFailed, update, self.actor, subject_id, command, field="stage"
                )
                return
            update(self.actor, subject_id, command)
            after = load(subject_id)
            assert (after.funnel_id, after.stage_id) == (funnel_id, target.id)
            assert len(after.history) == len(before.history) + 1
            if isinstance(after, Deal):
                assert (after.is_won, after.is_lost) == (
                    target.is_final and target.is_success,
                    target.is_failure,
                )

        @rule(lead_id=leads, contact=picks, title=titles)
        def edit_lead(self, lead_id: LeadId, contact: int, title: Maybe[str]) -> None:
            """PATCH a lead's contact and title: a closed lead keeps its contact (409)."""
            before = self._lead(lead_id)
            contact_id = self._contact(contact)
            command = ChangeLead(contact_id=contact_id, title=title)
            update = self.lead_uc.update_lead
            if _bad_title(title):
                self._refused(ValidationFailed, update, self.actor, lead_id, command, field="title")
            elif contact_id in self.deleted_contacts:
                self._refused(
                    ValidationFailed, update, self.actor, lead_id, command, field="contact"
                )
            elif contact_id != before.contact_id and not before.is_open:
                self._refused(Conflict, update, self.actor, lead_id, command)
            else:
                update(self.actor, lead_id, command)
                after = self._lead(lead_id)
                expected_title = before.title if isinstance(title, Unset) else title
                assert (after.contact_id, after.title) == (contact_id, expected_title)
                assert (after.status, after.stage_id) == (before.status, before.stage_id)
                return
            after = self._lead(lead_id)
            assert (after.contact_id, after.title) == (before.contact_id, before.title)

        @rule(target=deals, lead_id=leads, stage=maybe_picks, through_deals=st.booleans())
        def convert_lead(self, lead_id: LeadId, stage: int | None, through_deals: bool) -> Any:
            """`convert_to_deal`, or a deal created naming the lead (the same conversion)."""
            before = self._lead(lead_id)
            stage_funnel, stage_id = self._stage(stage) if stage is not None else (None, None)

            def convert() -> DealId:
                if through_deals:
                    return self.deal_uc.create_deal(
                        self.actor,
                        CreateDeal(
                            lead_id=lead_id,
                            contact_id=before.contact_id,
                            funnel_id=before.funnel_id,
                            title="Сделка",
                            stage_id=stage_id,
                        ),
                    )
                return self.lead_uc.convert_lead(
                    self.actor, lead_id, ConvertLead(stage_id=stage_id)
                )

            # Naming a lead that is no longer open in a new deal is a field error (400).
            closed_refusal = ValidationFailed if through_deals else Conflict
            if not before.is_open:
                self._refused(closed_refusal, convert)
                return multiple()
            if stage_funnel is not None and stage_funnel.id != before.funnel_id:
                self._refused(ValidationFailed, convert)
                return multiple()
            deal_id = convert()
            lead, deal = self._lead(lead_id), self._deal(deal_id)
            assert (lead.status, lead.deal_id, lead.closed_at) == (
                LeadStatus.CONVERTED,
                deal_id,
                clock.now(),
            )
            assert (lead.stage_id, len(lead.history)) == (before.stage_id, len(before.history))
            assert (deal.lead_id, deal.stage_id, deal.contact_id) == (
                lead_id,
                stage_id or lead.stage_id,
                lead.contact_id,
            )
            self.deal_ids.append(deal_id)
            return deal_id

        @rule(lead_id=leads, reason=reasons)
        def lose_lead(self, lead_id: LeadId, reason: str) -> None:
            before = self._lead(lead_id)
            lose = self.lead_uc.mark_lead_lost
            if len(reason) > 1000:
                self._refused(ValidationFailed, lose, self.actor, lead_id, reason, field="reason")
                return
            if before.status is LeadStatus.CONVERTED:
                self._refused(Conflict, lose, self.actor, lead_id, reason)
                return
            lose(self.actor, lead_id, reason)
            after = self._lead(lead_id)
            assert after.status is LeadStatus.LOST
            if before.status is LeadStatus.LOST:
                assert (after.closed_at, after.lost_reason, after.stage_id) == (
                    before.closed_at,
                    before.lost_reason,
                    before.stage_id,
                )
                return
            # Lost is a move to the funnel's failure stage, recorded like any other.
            failure = self._funnels()[after.funnel_id].failure_stage
            assert after.stage_id == (failure.id if failure else before.stage_id)
            assert len(after.history) == len(before.history) + (failure is not None)
            assert (after.closed_at, after.lost_reason) == (clock.now(), reason)

        @rule(lead_id=leads, stage=picks)
        def reopen_lead(self, lead_id: LeadId, stage: int) -> None:
            before = self._lead(lead_id)
            funnel, stage_id = self._stage(stage)
            reopen = self.lead_uc.reopen_lead
            if funnel.id != before.funnel_id:
                self._refused(ValidationFailed, reopen, self.actor, lead_id, stage_id)
            elif before.status is not LeadStatus.LOST:
                self._refused(Conflict, reopen, self.actor, lead_id, stage_id)
            elif funnel.stage(stage_id).is_final:
                self._refused(ValidationFailed, reopen, self.actor, lead_id, stage_id)
            else:
                reopen(self.actor, lead_id, stage_id)
                self.closed_leads.pop(lead_id, None)  # open again: it may move until it closes
                after = self._lead(lead_id)
                assert (after.stage_id, after.status, after.closed_at, after.lost_reason) == (
                    stage_id,
                    LeadStatus.OPEN,
                    None,
                    "",
                )

        # --- deals -------------------------------------------------------------------------------

        @rule(target=deals, stage=picks, contact=picks)
        def create_deal(self, stage: int, contact: int) -> Any:
            funnel, stage_id = self._stage(stage)
            contact_id = self._contact(contact)
            command = CreateDeal(
                contact_id=contact_id, funnel_id=funnel.id, stage_id=stage_id, title="Сделка"
            )
            if contact_id in self.deleted_contacts:
                self._refused(
                    ValidationFailed, self.deal_uc.create_deal, self.actor, command, field="contact"
                )
                return multiple()
            deal_id = self.deal_uc.create_deal(self.actor, command)
            deal = self._deal(deal_id)
            target = funnel.stage(stage_id)
            assert (deal.stage_id, deal.is_won, deal.is_lost) == (
                stage_id,
                target.is_final and target.is_success,
                target.is_failure,
            )
            self.deal_ids.append(deal_id)
            return deal_id

        @rule(deal_id=deals, stage=picks)
        def move_deal(self, deal_id: DealId, stage: int) -> None:
            before = self._deal(deal_id)
            funnel, stage_id = self._stage(stage)
            move = self.deal_uc.move_deal
            if funnel.id != before.funnel_id:
                self._refused(ValidationFailed, move, self.actor, deal_id, stage_id)
            elif before.is_closed:
                self._refused(Conflict, move, self.actor, deal_id, stage_id)
            else:
                move(self.actor, deal_id, stage_id)
                after, target = self._deal(deal_id), funnel.stage(stage_id)
                assert after.stage_id == stage_id
                assert (after.is_won, after.is_lost) == (
                    target.is_final and target.is_success,
                    target.is_failure,
                )

        @rule(deal_id=deals, funnel=picks, stage=maybe_picks)
        def patch_deal_funnel(self, deal_id: DealId, funnel: int, stage: int | None) -> None:
            self._transfer(self._deal, self.deal_uc.update_deal, deal_id, funnel, stage)

        @rule(deal_id=deals, contact=picks, title=titles)
        def edit_deal(self, deal_id: DealId, contact: int, title: Maybe[str]) -> None:
            """PATCH a deal's contact and title: a deal made from a lead keeps its contact."""
            before = self._deal(deal_id)
            contact_id = self._contact(contact)
            command = ChangeDeal(contact_id=contact_id, title=title)
            update = self.deal_uc.update_deal
            if _bad_title(title):
                self._refused(ValidationFailed, update, self.actor, deal_id, command, field="title")
            elif contact_id in self.deleted_contacts or (
                # While a deal has a lead, its contact is the lead's.
                contact_id != before.contact_id and before.lead_id is not None
            ):
                self._refused(
                    ValidationFailed, update, self.actor, deal_id, command, field="contact"
                )
            else:
                update(self.actor, deal_id, command)
                after = self._deal(deal_id)
                expected_title = before.title if isinstance(title, Unset) else title
                assert (after.contact_id, after.title) == (contact_id, expected_title)
                assert (after.stage_id, after.is_won, after.is_lost) == (
                    before.stage_id,
                    before.is_won,
                    before.is_lost,
                )
                return
            after = self._deal(deal_id)
            assert (after.contact_id, after.title) == (before.contact_id, before.title)

        @rule(deal_id=deals)
        def win(self, deal_id: DealId) -> None:
            before = self._deal(deal_id)
            if before.is_lost:
                self._refused(Conflict, self.deal_uc.mark_won, self.actor, deal_id)
                return
            self.deal_uc.mark_won(self.actor, deal_id)
            after = self._deal(deal_id)
            assert after.is_won
            if before.is_won:
                assert (after.closed_at, after.stage_id) == (before.closed_at, before.stage_id)
            else:
                success = self._funnels()[after.funnel_id].success_stage
                assert after.stage_id == (success.id if success else before.stage_id)

        @rule(deal_id=deals, reason=reasons)
        def lose(self, deal_id: DealId, reason: str) -> None:
            before = self._deal(deal_id)
            lose = self.deal_uc.mark_lost
            if len(reason) > 1000:
                self._refused(ValidationFailed, lose, self.actor, deal_id, reason, field="reason")
            elif before.is_won:
                self._refused(Conflict, lose, self.actor, deal_id, reason)
            else:
                lose(self.actor, deal_id, reason)
                after = self._deal(deal_id)
                assert after.is_lost
                if before.is_lost:
                    assert (after.closed_at, after.lost_reason) == (
                        before.closed_at,
                        before.lost_reason,
                    )
                else:
                    failure = self._funnels()[after.funnel_id].failure_stage
                    assert after.stage_id == (failure.id if failure else before.stage_id)
                    assert after.lost_reason == reason

        @rule(deal_id=deals, stage=picks)
        def reopen(self, deal_id: DealId, stage: int) -> None:
            before = self._deal(deal_id)
            funnel, stage_id = self._stage(stage)
            reopen = self.deal_uc.reopen
            if funnel.id != before.funnel_id:
                self._refused(ValidationFailed, reopen, self.actor, deal_id, stage_id)
            elif not before.is_closed:
                self._refused(Conflict, reopen, self.actor, deal_id, stage_id)
            elif funnel.stage(stage_id).is_final:
                self._refused(ValidationFailed, reopen, self.actor, deal_id, stage_id)
            else:
                reopen(self.actor, deal_id, stage_id)
                after = self._deal(deal_id)
                assert (after.stage_id, after.is_closed, after.lost_reason) == (stage_id, False, "")

        # --- the funnel changing under them ------------------------------------------------------

        @rule(stage=picks, flags=st.sampled_from(FLAGS))
        def change_stage_flags(self, stage: int, flags: tuple[bool, bool]) -> None:
            funnel, stage_id = self._stage(stage)
            current = funnel.stage(stage_id)
            changes = ChangeStage(is_final=flags[0], is_success=flags[1])
            if flags != (current.is_final, current.is_success) and self._occupied(stage_id):
                self._refused(Conflict, self.funnel_uc.update_stage, self.actor, stage_id, changes)
                return
            self.funnel_uc.update_stage(self.actor, stage_id, changes)
            changed = self._funnels()[funnel.id].stage(stage_id)
            assert (changed.is_final, changed.is_success) == flags

        # --- the rules that hold after every step -------------------------------------------------

        @invariant()
        def the_rules_hold(self) -> None:
            now = clock.now()
            with uow_factory() as uow:
                company = self.actor.company_id
                funnels = {fid: uow.funnels.get(company, fid) for fid in self.funnel_ids}
                leads = {i: uow.leads.get(company, i) for i in self.lead_ids}
                deals = [uow.deals.get(company, i) for i in self.deal_ids]
                contacts = {
                    cid: uow.contacts.get(company, cid)
                    for cid in self.contact_ids
                    if cid not in self.deleted_contacts
                }
                for cid in self.deleted_contacts:
                    try:
                        uow.contacts.get(company, cid)
                    except NotFound:
                        continue
                    raise AssertionError("a deleted contact is gone")
            subjects: list[Lead | Deal] = [*leads.values(), *deals]
            for entity in subjects:
                funnel = funnels[entity.funnel_id]
                assert funnel.has_stage(entity.stage_id), "the stage belongs to the funnel"
                assert entity.contact_id in contacts, "a contact with leads or deals stays"
                _check_history(entity, now)
            for deal in deals:
                _check_deal(deal, funnels[deal.funnel_id])
                if deal.is_won:
                    self.won_with.setdefault(deal.id, deal.contact_id)
                    self.ever_won.add(self.won_with[deal.id])
                else:
                    self.won_with.pop(deal.id, None)
            for contact_id in self.ever_won - self.deleted_contacts:
                assert contacts[contact_id].is_client, "winning a deal makes a client"
            deals_of: dict[LeadId, list[Deal]] = {}
            for deal in deals:
                if deal.lead_id is not None:
                    deals_of.setdefault(deal.lead_id, []).append(deal)
                    lead = leads[deal.lead_id]
                    assert lead.contact_id == deal.contact_id, "a deal shares its lead's contact"
            for lead in leads.values():
                _check_lead(lead, funnels[lead.funnel_id])
                made = [deal.id for deal in deals_of.get(lead.id, [])]
                assert len(made) <= 1, "a lead has at most one deal"
                if lead.status is LeadStatus.CONVERTED:
                    assert made == [lead.deal_id], "a converted lead has its deal"
                else:
                    assert (made, lead.deal_id) == ([], None)
                if not lead.is_open:
                    placed = (lead.funnel_id, lead.stage_id, len(lead.history))
                    frozen = self.closed_leads.setdefault(lead.id, placed)
                    assert placed == frozen, "a converted or lost lead does not move until reopened"

        @staticmethod
        def _refused(
            error: type[Exception],
            action: Callable[..., object],
            *args: object,
            field: str | None = None,
        ) -> None:
            """`action(*args)` is refused with `error` (a ValidationFailed naming `field`)."""
            try:
                action(*args)
            except error as refusal:
                if field is not None:
                    assert isinstance(refusal, ValidationFailed)
                    assert list(refusal.errors) == [field], refusal.errors
                return
            raise AssertionError(f"{action} was not refused with {error.__name__}")

    return PipelineMachine


def _bad_title(title: Maybe[str]) -> bool:
    """A title the domain refuses: blank, or longer than 255 characters."""
    return not isinstance(title, Unset) and (not title.strip() or len(title) > 255)


def _check_lead(lead: Lead, funnel: Funnel) -> None:
    """A lead's stage and status agree: open in a non-final stage; never in a success stage
    (it gets there only as its deal); in a failure stage only when lost."""
    stage = funnel.stage(lead.stage_id)
    if lead.is_open:
        assert not stage.is_final, "an open lead stands in a non-final stage"
    assert not (stage.is_final and stage.is_success), "no lead stands in a success stage"
    if stage.is_failure:
        assert lead.status is LeadStatus.LOST, "a lead in a failure stage is lost"
    assert (lead.closed_at is None) == lead.is_open, "closed_at exactly when not open"
    assert lead.status is LeadStatus.LOST or lead.lost_reason == ""


def _check_deal(deal: Deal, funnel: Funnel) -> None:
    """Won exactly in a success stage or when marked won, lost likewise, never both."""
    stage = funnel.stage(deal.stage_id)
    assert not (deal.is_won and deal.is_lost), "never both won and lost"
    if stage.is_final and stage.is_success:
        assert deal.is_won, "a deal in a success stage is won"
    if stage.is_failure:
        assert deal.is_lost, "a deal in a failure stage is lost"
    assert (deal.closed_at is not None) == deal.is_closed, "closed_at exactly when closed"
    assert deal.is_lost or deal.lost_reason == ""


def _check_history(entity: Lead | Deal, now: datetime) -> None:
    history = sorted(entity.history, key=lambda transition: transition.seq)
    assert history, "every lead and deal has entered a stage"
    assert history[0].from_stage_id is None
    assert history[-1].to_stage_id == entity.stage_id, "the last transition is the current stage"
    assert history[-1].entered_at == entity.stage_changed_at
    assert history[-1].left_at is None, "the current stay is open"
    assert all(t.left_at is not None for t in history[:-1]), "exactly one open stay"
    for previous, current in pairwise(history):
        assert current.from_stage_id == previous.to_stage_id
        assert previous.entered_at <= current.entered_at, "time never goes backwards"
        assert previous.left_at == current.entered_at
    assert history[-1].entered_at <= now


# --- the unit run, on the fakes ---------------------------------------------------------------


class _FreshDatabase:
    """A new fake database for every run, behind one unit-of-work factory."""

    def __init__(self) -> None:
        self.database = FakeDatabase()

    def reset(self) -> None:
        self.database = FakeDatabase()

    def unit_of_work(self) -> UnitOfWork:
        return self.database.unit_of_work()


_fakes = _FreshDatabase()
_clock = FixedClock()

TestPipelineOnFakes = make_pipeline_machine(
    _fakes.unit_of_work, _clock, setup=lambda: _fakes.reset()
).TestCase
TestPipelineOnFakes.settings = settings(
    max_examples=75,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
