"""The mapping and the unit of work: round trips, transactions, tenancy, constraints, cascades."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest
from sqlalchemy import Engine

from crm_adapters.sql.unit_of_work import SqlUnitOfWork, _slots
from crm_core import (
    Activity,
    ActivityType,
    Conflict,
    Contact,
    Deal,
    Funnel,
    Lead,
    Links,
    Money,
    NotFound,
    PhoneNumber,
    Probability,
    StageSpec,
    ValidationFailed,
)
from crm_core.messaging import ChatType, Message, MessageStatus, MessageType, MessagingAccount
from crm_core.services.activities import CreateActivity
from crm_core.services.funnels import ChangeStage
from crm_core.tenancy import ApiToken, Branch, Company, Role, User
from crm_core.values import Color, CompanyId
from tests.integration.sql.conftest import START, World, revision, sent_by

UowFactory = Callable[[], SqlUnitOfWork]


def state(entity: Any) -> dict[str, Any]:
    return attrs.asdict(entity, recurse=True)


def a_full_set(company_id: CompanyId) -> list[Any]:
    """One of every aggregate, every field away from its default."""
    now = START
    user = User(
        company_id,
        f"{uuid.uuid4().hex[:8]}@example.com",
        "hash",
        Role.ADMIN,
        "Пётр",
        False,
        created_at=now,
        updated_at=now,
    )
    token, _ = ApiToken.issue(user.id, now)
    token.revoke(now + timedelta(hours=1))
    branch = Branch(company_id, "Филиал Север", "Ленина, 1", False, created_at=now, updated_at=now)
    funnel = Funnel.create(
        company_id,
        "Продажи",
        [
            StageSpec("Новый", 1, Color("#ABCDEF")),
            StageSpec("Дальше", 2),
            StageSpec("Успех", 3, is_final=True, is_success=True),
            StageSpec("Провал", 4, is_final=True),
        ],
        description="Описание",
        is_active=False,
    )
    funnel.created_at = funnel.updated_at = now
    contact = Contact.create(
        company_id,
        region="RU",
        now=now,
        first_name="Иван",
        last_name="Петров",
        middle_name="Сергеевич",
        phone="8 999 123-45-67",
        phone_secondary="+7 999 765-43-21",
        whatsapp="+7 (912) 000-11-22",
        email="Ivan@Example.com",
        instagram="@ivan.p",
        telegram="ivanp",
        company_name="ООО Ромашка",
        position="CEO",
        address="Москва",
        notes="важный",
        tags=["vip", "опт"],
        source="site",
        is_active=False,
        is_client=True,
        branch_id=branch.id,
        owner_id=user.id,
    )
    contact.learn_telegram_chat("500000001", now)
    _, second, _, _ = funnel.ordered_stages
    lead = Lead.open(
        company_id=company_id,
        contact_id=contact.id,
        funnel=funnel,
        title="Лид",
        now=now,
        actor=user.id,
        description="d",
        estimated_value=Money(Decimal("1234.50")),
        probability=Probability(40),
        source="site",
    )
    lead.move_to(second, now + timedelta(days=1), user.id)
    deal = lead.convert_to_deal(
        now + timedelta(days=2), funnel=funnel, actor=user.id, expected_close_date=date(2027, 1, 31)
    )
    deal.mark_won(funnel, now + timedelta(days=3), user.id)
    activity = Activity.record(
        company_id=company_id,
        activity_type=ActivityType.TASK,
        title="Позвонить",
        links=Links(contact_id=contact.id, lead_id=lead.id, lead_contact_id=contact.id),
        now=now,
        user_id=user.id,
        activity_date=now + timedelta(hours=5),
        description="текст",
        due_date=date(2026, 12, 1),
        is_done=True,
    )
    account = MessagingAccount(
        company_id,
        "WA",
        "encrypted",
        "…1234",
        "secret",
        "https://api",
        "channel-1",
        ChatType.TELEGRAM,
        False,
        True,
        "active",
        now,
        "oops",
        {"k": [1, "два"]},
        funnel.id,
        False,
        "wapi",
        "fingerprint",
        created_at=now,
        updated_at=now,
    )
    message = Message(
        company_id,
        account.id,
        ChatType.TELEGRAM,
        "chat-1",
        True,
        now,
        MessageType.IMAGE,
        "Привет",
        "https://m/1.png",
        "cap",
        "prov-1",
        contact.id,
        lead.id,
        "from",
        "to",
        MessageStatus.READ,
        True,
        {"code": "1", "description": "x"},
        "Автор",
        True,
        True,
        {"raw": {"a": 1}},
        now,
        True,
        created_at=now,
        updated_at=now,
    )
    return [user, token, branch, funnel, contact, lead, deal, activity, account, message]


REPOSITORIES = {
    User: "users",
    ApiToken: "tokens",
    Branch: "branches",
    Funnel: "funnels",
    Contact: "contacts",
    Lead: "leads",
    Deal: "deals",
    Activity: "activities",
    MessagingAccount: "accounts",
    Message: "messages",
}


def reload(uow: SqlUnitOfWork, company_id: CompanyId, entity: Any) -> Any:
    repository = getattr(uow, REPOSITORIES[type(entity)])
    if isinstance(entity, ApiToken):
        return repository.by_hash(entity.token_hash)
    return repository.get(company_id, entity.id)


def test_every_aggregate_round_trips(uow: UowFactory, world: World) -> None:
    entities = a_full_set(world.company_id)
    with uow() as unit:
        for entity in entities:
            getattr(unit, REPOSITORIES[type(entity)]).save(entity)
        unit.commit()

    with uow() as unit:
        for entity in entities:
            loaded = reload(unit, world.company_id, entity)
            assert loaded is not entity
            assert state(loaded) == state(entity), type(entity).__name__
        contact = unit.contacts.get(world.company_id, entities[4].id)
        assert contact.phone == PhoneNumber("+79991234567")
        assert contact.full_name == "Петров Иван Сергеевич"
        lead = unit.leads.get(world.company_id, entities[5].id)
        assert [t.seq for t in lead.history] == [0, 1]
        assert lead.history[0].subject_id == lead.id
        assert lead.history[0].entered_at.tzinfo is not None
        assert lead.history[0].entered_at.utcoffset() == timedelta(0)


def test_a_loaded_aggregate_changes_and_saves(uow: UowFactory, world: World) -> None:
    funnel_id = world.funnels.create_funnel(world.admin, "Воронка")
    first, second, *_ = world.stages(funnel_id)
    lead_id = world.lead(world.contact(), funnel_id)
    world.clock.advance(days=1)
    world.leads.move_lead(world.admin, lead_id, second)
    world.clock.advance(days=1)
    world.leads.move_lead(world.admin, lead_id, first)
    with uow() as unit:
        lead = unit.leads.get(world.company_id, lead_id)
        assert [(t.from_stage_id, t.to_stage_id) for t in lead.history] == [
            (None, first),
            (first, second),
            (second, first),
        ]
        assert [t.left_at for t in lead.history] == [
            START + timedelta(days=1),
            START + timedelta(days=2),
            None,
        ]
        assert lead.version == 3


def a_new_lead(unit: SqlUnitOfWork, world: World, funnel_id: Any, contact_id: Any) -> Lead:
    return Lead.open(
        company_id=world.company_id,
        contact_id=contact_id,
        funnel=unit.funnels.get(world.company_id, funnel_id),
        title="Новый",
        now=world.clock.now(),
    )


def test_a_new_lead_written_alone_is_tracked_afterwards(uow: UowFactory, world: World) -> None:
    funnel_id, contact_id = world.funnels.create_funnel(world.admin, "Воронка"), world.contact()
    _, second, *_ = world.stages(funnel_id)
    with uow() as unit:
        lead = a_new_lead(unit, world, funnel_id, contact_id)
        unit.leads.save(lead)
        unit.commit()  # the lead and its first stay are all there is to write
        world.clock.advance(days=1)
        lead.move_to(unit.funnels.get(world.company_id, funnel_id).stage(second), world.clock.now())
        unit.leads.save(lead)
        unit.commit()  # now an UPDATE, checked against the version written with it

    with uow() as unit:
        loaded = unit.leads.get(world.company_id, lead.id)
        assert state(loaded) == state(lead)
        assert loaded.version == 2
        assert [(t.from_stage_id, t.to_stage_id) for t in loaded.history][1][1] == second


def test_a_new_lead_written_with_other_changes_keeps_their_order(
    uow: UowFactory, world: World
) -> None:
    funnel_id, contact_id = world.funnels.create_funnel(world.admin, "Воронка"), world.contact()
    with uow() as unit:
        lead = a_new_lead(unit, world, funnel_id, contact_id)
        unit.leads.save(lead)
        # An activity naming the new lead: its row must come after the lead's.
        note = Activity.system(
            company_id=world.company_id,
            activity_type=ActivityType.NOTE,
            title="Заметка",
            links=Links(lead_id=lead.id, lead_contact_id=lead.contact_id),
            now=world.clock.now(),
            user_id=None,
        )
        unit.activities.save(note)
        unit.commit()

    with uow() as unit:
        assert state(unit.leads.get(world.company_id, lead.id)) == state(lead)
        assert unit.activities.get(world.company_id, note.id).lead_id == lead.id


def test_a_new_lead_whose_commit_fails_stays_new(uow: UowFactory, world: World) -> None:
    funnel_id, contact_id = world.funnels.create_funnel(world.admin, "Воронка"), world.contact()
    with uow() as unit:
        lead = a_new_lead(unit, world, funnel_id, uuid.uuid4())  # no such contact
        unit.leads.save(lead)
        with pytest.raises(Conflict):
            unit.commit()

    lead.change_contact(contact_id, world.clock.now())
    with uow() as unit:
        unit.leads.save(lead)  # still a new lead: written now, whole
        unit.commit()
    with uow() as unit:
        assert state(unit.leads.get(world.company_id, lead.id)) == state(lead)


def test_a_new_lead_is_written_in_one_statement_on_postgresql(
    uow: UowFactory, world: World, engine: Engine
) -> None:
    funnel_id, contact_id = world.funnels.create_funnel(world.admin, "Воронка"), world.contact()
    before = revision(engine, funnel_id)
    with uow() as unit:
        lead = a_new_lead(unit, world, funnel_id, contact_id)
        unit.leads.save(lead)
        writes = [
            statement
            for statement in sent_by(engine, unit.commit)
            if statement.lstrip().startswith(("INSERT", "WITH", "UPDATE"))
        ]
    # Its row, its first stay and its funnel's revision.
    assert len(writes) == (1 if engine.dialect.name == "postgresql" else 3)
    assert revision(engine, funnel_id) == before + 1
    with uow() as unit:
        assert state(unit.leads.get(world.company_id, lead.id)) == state(lead)


def test_new_leads_in_two_funnels_are_written_whole_in_one_commit(
    uow: UowFactory, world: World, engine: Engine
) -> None:
    funnels = [world.funnels.create_funnel(world.admin, name) for name in ("Первая", "Вторая")]
    contact_id = world.contact()
    before = [revision(engine, funnel_id) for funnel_id in funnels]
    with uow() as unit:
        leads = [a_new_lead(unit, world, funnel_id, contact_id) for funnel_id in funnels * 10]
        for lead in leads:
            unit.leads.save(lead)
        unit.commit()  # 40 rows: more than one statement takes, and two revisions
    assert [revision(engine, funnel_id) for funnel_id in funnels] == [n + 1 for n in before]
    with uow() as unit:
        for lead in leads:
            loaded = unit.leads.get(world.company_id, lead.id)
            assert state(loaded) == state(lead)
            assert [t.to_stage_id for t in loaded.history] == [lead.stage_id]


def test_forked_workers_draw_their_own_revision_slots() -> None:
    # gunicorn imports the app before it forks: two workers drawing the same slots would
    # wait on each other's rows where the slots are there to spread them.
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(write, bytes(_slots.randrange(256) for _ in range(16)))
        os._exit(0)
    os.waitpid(child, 0)
    drawn_in_child = os.read(read, 16)
    os.close(read)
    os.close(write)
    assert drawn_in_child != bytes(_slots.randrange(256) for _ in range(16))


def test_a_new_lead_not_committed_is_not_written(uow: UowFactory, world: World) -> None:
    funnel_id, contact_id = world.funnels.create_funnel(world.admin, "Воронка"), world.contact()
    with uow() as unit:
        lead = a_new_lead(unit, world, funnel_id, contact_id)
        unit.leads.save(lead)
    with uow() as unit, pytest.raises(NotFound):
        unit.leads.get(world.company_id, lead.id)


def test_nothing_is_kept_without_commit(uow: UowFactory, world: World) -> None:
    funnel = Funnel.with_default_stages(world.company_id, "Не сохранится")
    with uow() as unit:
        unit.funnels.save(funnel)
        unit.session.flush()
    with uow() as unit:
        unit.funnels.save(Funnel.with_default_stages(world.company_id, "И эта"))
        unit.rollback()
        with pytest.raises(NotFound):
            unit.funnels.get(world.company_id, funnel.id)
    with uow() as unit, pytest.raises(NotFound):
        unit.funnels.get(world.company_id, funnel.id)


def test_a_failing_use_case_leaves_nothing(uow: UowFactory, world: World) -> None:
    funnel_id = world.funnels.create_funnel(world.admin, "Воронка")
    with pytest.raises(ValidationFailed):
        world.funnels.create_stage(world.admin, funnel_id, ChangeStage(name="", order=9))
    assert len(world.stages(funnel_id)) == 6


def test_objects_of_another_company_are_not_found(
    uow: UowFactory, world: World, make_world: Callable[..., World]
) -> None:
    other = make_world()
    funnel_id = world.funnels.create_funnel(world.admin, "Своя")
    contact_id = world.contact()
    lead_id = world.lead(contact_id, funnel_id)
    deal_id = world.leads.convert_lead(world.admin, lead_id)
    stage_id = world.stages(funnel_id)[0]
    with uow() as unit:
        company = other.company_id
        for repository, object_id in [
            (unit.funnels, funnel_id),
            (unit.contacts, contact_id),
            (unit.leads, lead_id),
            (unit.deals, deal_id),
            (unit.users, world.admin.user_id),
        ]:
            with pytest.raises(NotFound):
                repository.get(company, object_id)
        with pytest.raises(NotFound):
            unit.funnels.with_stage(company, stage_id)
        assert unit.leads.open_for_contact(company, contact_id) is None
        assert not unit.contacts.exists(company, contact_id)
        assert unit.contacts.exists(world.company_id, contact_id)
        assert not unit.occupancy.funnel_is_occupied(company, funnel_id)
        assert unit.occupancy.funnel_is_occupied(world.company_id, funnel_id)
    with pytest.raises(ValidationFailed):  # a reference into another company is a field error
        other.lead(contact_id, funnel_id)


def test_a_stage_order_taken_meanwhile_is_a_conflict(uow: UowFactory, world: World) -> None:
    """The funnel refuses an order it sees taken (400 on `order`); two requests taking the
    same free order at once are a race the caller could not see: 409, and no field named."""
    funnel_id = world.funnels.create_funnel(world.admin, "Гонка", stages=[])
    with uow() as first, uow() as second:
        first.funnels.get(world.company_id, funnel_id).add_stage(StageSpec("A", 10))
        second.funnels.get(world.company_id, funnel_id).add_stage(StageSpec("B", 10))
        first.commit()
        with pytest.raises(Conflict) as refused:
            second.commit()
    assert "order" in refused.value.detail
    with uow() as unit:
        funnel = unit.funnels.get(world.company_id, funnel_id)
        assert [stage.name for stage in funnel.stages] == ["A"]


def test_a_second_deal_for_one_lead_is_a_conflict(uow: UowFactory, world: World) -> None:
    funnel_id = world.funnels.create_funnel(world.admin, "Воронка")
    lead_id = world.lead(world.contact(), funnel_id)
    with uow() as first, uow() as second:
        deals = []
        for unit in (first, second):
            lead = unit.leads.get(world.company_id, lead_id)
            funnel = unit.funnels.get(world.company_id, funnel_id)
            deal = lead.convert_to_deal(world.clock.now(), funnel=funnel)
            unit.leads.save(lead)
            unit.deals.save(deal)
            deals.append(deal)
        first.commit()
        with pytest.raises(Conflict):
            second.commit()
    # The unique lead_id holds even when the lead row itself is not touched.
    with uow() as unit:
        funnel = unit.funnels.get(world.company_id, funnel_id)
        lead = unit.leads.get(world.company_id, lead_id)
        twin = Deal.open(
            company_id=world.company_id,
            contact_id=lead.contact_id,
            funnel=funnel,
            title="Двойник",
            now=world.clock.now(),
            lead_id=lead_id,
        )
        unit.deals.save(twin)
        with pytest.raises(Conflict, match="already been converted"):
            unit.commit()


def test_a_contact_with_a_pipeline_is_kept_and_without_one_goes_keeping_its_messages(
    uow: UowFactory, world: World
) -> None:
    funnel_id = world.funnels.create_funnel(world.admin, "Воронка")
    contact_id = world.contact()
    keeper_id = world.contact("Остаётся")
    lead_id = world.lead(contact_id, funnel_id)
    other_lead = world.lead(keeper_id, funnel_id)
    world.clock.advance(hours=1)
    world.leads.move_lead(world.admin, lead_id, world.stages(funnel_id)[1])
    deal_id = world.leads.convert_lead(world.admin, lead_id)
    activity_id = world.activities.create_activity(
        world.admin, CreateActivity(activity_type="call", title="Звонок", contact_id=contact_id)
    )
    account = MessagingAccount(world.company_id, "WA", "enc", "…1", "s")
    message = Message(
        world.company_id,
        account.id,
        ChatType.WHATSAPP,
        "79991234567",
        True,
        world.clock.now(),
        contact_id=contact_id,
        lead_id=lead_id,
    )
    with uow() as unit:
        unit.accounts.save(account)
        unit.messages.save(message)
        unit.commit()

    # While it has a lead or a deal, the contact stays, and so does everything of it.
    with pytest.raises(Conflict):
        world.contacts.delete_contact(world.admin, contact_id)
    world.deals.delete_deal(world.admin, deal_id)
    with pytest.raises(Conflict):
        world.contacts.delete_contact(world.admin, contact_id)
    with uow() as unit:
        assert unit.leads.get(world.company_id, lead_id).contact_id == contact_id
        assert unit.activities.get(world.company_id, activity_id).contact_id == contact_id
    world.leads.delete_lead(world.admin, lead_id)

    world.contacts.delete_contact(world.admin, contact_id)

    with uow() as unit:
        for repository, object_id in [
            (unit.leads, lead_id),
            (unit.deals, deal_id),
            (unit.activities, activity_id),
            (unit.contacts, contact_id),
        ]:
            with pytest.raises(NotFound):
                repository.get(world.company_id, object_id)
        kept = unit.messages.get(world.company_id, message.id)
        assert (kept.contact_id, kept.lead_id) == (None, None)
        assert unit.leads.get(world.company_id, other_lead).contact_id == keeper_id
        from sqlalchemy import func, select

        from crm_adapters.sql.tables import stage_transitions

        orphans = unit.session.scalar(
            select(func.count()).where(
                stage_transitions.c.lead_id.is_(None), stage_transitions.c.deal_id.is_(None)
            )
        )
        assert orphans == 0
        assert (
            unit.session.scalar(select(func.count()).where(stage_transitions.c.deal_id == deal_id))
            == 0
        )


def test_deleting_a_lead_unlinks_its_deal(uow: UowFactory, world: World) -> None:
    funnel_id = world.funnels.create_funnel(world.admin, "Воронка")
    lead_id = world.lead(world.contact(), funnel_id)
    deal_id = world.leads.convert_lead(world.admin, lead_id)
    world.leads.delete_lead(world.admin, lead_id)
    with uow() as unit:
        assert unit.deals.get(world.company_id, deal_id).lead_id is None


def test_deleting_a_free_stage_keeps_the_history_that_passed_through_it(
    uow: UowFactory, world: World
) -> None:
    funnel_id = world.funnels.create_funnel(world.admin, "Воронка")
    first, second, *_ = world.stages(funnel_id)
    lead_id = world.lead(world.contact(), funnel_id)
    world.clock.advance(days=1)
    world.leads.move_lead(world.admin, lead_id, second)
    world.funnels.delete_stage(world.admin, first)
    with uow() as unit:
        history = unit.leads.get(world.company_id, lead_id).history
        assert [(t.from_stage_id, t.to_stage_id) for t in history] == [(None, None), (None, second)]
    with pytest.raises(Conflict):
        world.funnels.delete_stage(world.admin, second)
    with pytest.raises(Conflict):
        world.funnels.delete_funnel(world.admin, funnel_id)


def test_deleting_a_funnel_takes_its_stages(uow: UowFactory, world: World) -> None:
    funnel_id = world.funnels.create_funnel(world.admin, "Пустая")
    stage_id = world.stages(funnel_id)[0]
    world.funnels.delete_funnel(world.admin, funnel_id)
    with uow() as unit, pytest.raises(NotFound):
        unit.funnels.with_stage(world.company_id, stage_id)


def test_lookups_of_the_repositories(uow: UowFactory, world: World) -> None:
    older = world.contact("Старый", phone="+7 999 111-22-33", telegram="tg_user")
    world.clock.advance(minutes=1)
    newer = world.contact("Новый", whatsapp="8 999 111-22-33", instagram="insta.user")
    world.contact("Чужой номер", phone_secondary="+7 999 000-00-01")
    funnel_id = world.funnels.create_funnel(world.admin, "Воронка")
    lead_id = world.lead(older, funnel_id)
    account = MessagingAccount(world.company_id, "WA", "enc", "…1", "s")
    message = Message(
        world.company_id,
        account.id,
        ChatType.WHATSAPP,
        "7",
        True,
        world.clock.now(),
        provider_message_id="wz-1",
    )
    with uow() as unit:
        unit.accounts.save(account)
        unit.messages.save(message)
        unit.commit()
    with uow() as unit:
        company = world.company_id
        found = unit.contacts.with_phones(company, [PhoneNumber("+79991112233")])
        assert [c.id for c in found] == [older, newer]

        def handles(chat_type: ChatType, handle: str) -> list[object]:
            return [c.id for c in unit.contacts.with_handles(company, chat_type, [handle])]

        assert handles(ChatType.WHATSAPP, "79991112233") == [older, newer]
        assert handles(ChatType.TELEGRAM, "tg_user") == [older]
        assert handles(ChatType.INSTAGRAM, "insta.user") == [newer]
        assert handles(ChatType.TELEGRAM, "insta.user") == []
        open_lead = unit.leads.open_for_contact(company, older)
        assert open_lead is not None and open_lead.id == lead_id
        assert unit.leads.open_for_contact(company, newer) is None
        by_provider = unit.messages.by_provider_id(company, account.id, "wz-1")
        assert by_provider is not None and by_provider.id == message.id
        assert unit.messages.by_provider_id(company, account.id, "wz-2") is None
        assert unit.companies.any()
        company_row = unit.companies.get(company)
        assert isinstance(company_row, Company)
        assert unit.companies.by_name(company_row.name) is not None
        assert unit.companies.by_name("нет такой") is None
        found_user = unit.users.find(world.admin.user_id)
        assert found_user is not None and unit.users.by_email(found_user.email) is not None
        assert unit.users.find(uuid.uuid4()) is None  # type: ignore[arg-type]
        assert unit.occupancy.stage_is_occupied(company, world.stages(funnel_id)[0])
        assert not unit.occupancy.stage_is_occupied(company, world.stages(funnel_id)[1])


def test_the_same_provider_id_may_recur_in_another_account(uow: UowFactory, world: World) -> None:
    first = MessagingAccount(world.company_id, "A", "enc", "…1", "s")
    second = MessagingAccount(world.company_id, "B", "enc", "…2", "t")
    now = world.clock.now()
    with uow() as unit:
        for account in (first, second):
            unit.accounts.save(account)
            unit.messages.save(
                Message(
                    world.company_id,
                    account.id,
                    ChatType.WHATSAPP,
                    "7",
                    True,
                    now,
                    provider_message_id="same",
                )
            )
        unit.commit()
    with uow() as unit:
        unit.messages.save(
            Message(
                world.company_id,
                first.id,
                ChatType.WHATSAPP,
                "7",
                True,
                now,
                provider_message_id="same",
            )
        )
        with pytest.raises(Conflict):
            unit.commit()


def test_times_come_back_aware_utc(uow: UowFactory, make_world: Callable[..., World]) -> None:
    moscow = datetime(2026, 11, 24, 13, 0, tzinfo=UTC).astimezone(
        __import__("zoneinfo").ZoneInfo("Europe/Moscow")
    )
    world = make_world(start=moscow)
    funnel_id = world.funnels.create_funnel(world.admin, "Время")
    with uow() as unit:
        funnel = unit.funnels.get(world.company_id, funnel_id)
    assert funnel.created_at == datetime(2026, 11, 24, 13, 0, tzinfo=UTC)
    assert funnel.created_at is not None and funnel.created_at.tzinfo == UTC
