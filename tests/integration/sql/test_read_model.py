"""The read model: row shapes, every filter, search and ordering of every list, pages, tenancy."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest
from sqlalchemy import Engine

from crm_adapters.sql.read_model import LIST_SPECS, SqlReadModel
from crm_adapters.sql.types import russian_order
from crm_adapters.sql.unit_of_work import SqlUnitOfWork
from crm_core import Lead, Money, NotFound
from crm_core.messaging import ChatType, Message, MessageStatus, MessagingAccount
from crm_core.ports import ListQuery, Resource
from crm_core.services.activities import CreateActivity
from crm_core.services.pipeline import CreateDeal
from crm_core.services.tenancy import CreateBranch
from tests.integration.sql.conftest import START, World, new_world

DAY = timedelta(days=1)


@attrs.define
class Data:
    world: World
    ids: dict[str, Any]
    other: World


@pytest.fixture(scope="module")
def data(uow: Callable[[], SqlUnitOfWork]) -> Data:
    """A small company: funnels, contacts, leads, deals, activities, messages over three days."""
    world = new_world(uow)
    admin = world.admin
    boris = world.user("Борис Иванов")
    ids: dict[str, Any] = {"admin": admin.user_id, "boris": boris.user_id}
    a = world.access
    branch = a.create_branch(admin, CreateBranch(name="Север", address="Ленина 1"))
    ids["south"] = a.create_branch(admin, CreateBranch(name="Юг", is_active=False))
    ids["north"] = branch
    ids["sales"] = world.funnels.create_funnel(admin, "Продажи", description="Основная")
    ids["rent"] = world.funnels.create_funnel(admin, "Аренда", is_active=False)
    ids["stages"] = world.stages(ids["sales"])
    _, second, third, *_ = ids["stages"]
    ids["ivan"] = world.contact(
        "Иван", last_name="Петров", phone="8 999 123-45-67", source="сайт", branch_id=branch
    )
    world.clock.advance(days=1)
    ids["olga"] = world.contact(
        "Ольга",
        last_name="Сидорова",
        whatsapp="+7 912 555-66-77",
        company_name="ООО Ёлка",
        owner_id=boris.user_id,
        is_client=True,
    )
    world.clock.advance(days=1)
    ids["zoe"] = world.contact("Zoe", email="ZOE@mail.example", is_active=False, source="звонок")

    leads = world.leads
    world.clock.current = START
    ids["lead_site"] = world.lead(
        ids["ivan"],
        ids["sales"],
        "Разработка сайта",
        estimated_value=Money("100000.00"),
        source="сайт",
    )
    world.clock.advance(days=1)
    ids["lead_crm"] = world.lead(
        ids["olga"],
        ids["sales"],
        "Внедрение CRM",
        stage_id=second,
        description="Большой ПРОЕКТ",
        owner_id=boris.user_id,
        estimated_value=Money("50000.00"),
    )
    ids["lead_rent"] = world.lead(ids["olga"], ids["rent"], "Аренда офиса")
    world.clock.advance(days=1)
    ids["lead_lost"] = world.lead(ids["zoe"], ids["sales"], "Zoo project")
    leads.mark_lead_lost(admin, ids["lead_lost"], "дорого")
    ids["deal_crm"] = leads.convert_lead(admin, ids["lead_crm"])
    deals = world.deals
    ids["deal_big"] = deals.create_deal(
        admin,
        CreateDeal(
            contact_id=ids["ivan"],
            funnel_id=ids["sales"],
            title="Большая поставка",
            amount=Money("900000.00"),
            expected_close_date=date(2027, 3, 1),
            stage_id=third,
        ),
    )
    ids["deal_won"] = deals.create_deal(
        admin,
        CreateDeal(
            contact_id=ids["olga"],
            funnel_id=ids["sales"],
            title="Мелкий заказ",
            amount=Money("1000.00"),
            expected_close_date=date(2027, 1, 15),
        ),
    )
    world.clock.advance(hours=2)
    deals.mark_won(admin, ids["deal_won"])
    activities = world.activities
    ids["call_activity"] = activities.create_activity(
        admin,
        CreateActivity(
            activity_type="call",
            title="Позвонить Ивану",
            contact_id=ids["ivan"],
            activity_date=START + 5 * DAY,
        ),
    )
    ids["task"] = activities.create_activity(
        boris,
        CreateActivity(
            activity_type="task",
            title="Подготовить КП",
            deal_id=ids["deal_big"],
            is_done=True,
            activity_date=START - DAY,
            due_date=date(2026, 12, 1),
        ),
    )
    account = MessagingAccount(
        world.company_id,
        "Основной WA",
        "enc",
        "…4321",
        "secret",
        instance_id="chan-1",
        created_at=START,
        updated_at=START,
    )
    ids["account"] = account.id
    incoming = Message(
        world.company_id,
        account.id,
        ChatType.WHATSAPP,
        "79991234567",
        True,
        START + 4 * DAY,
        text="Здравствуйте, ЖДУ ответа",
        contact_id=ids["ivan"],
        from_number="79991234567",
        status=MessageStatus.DELIVERED,
        provider_message_id="wz-1",
        created_at=START,
        updated_at=START,
    )
    outgoing = Message(
        world.company_id,
        account.id,
        ChatType.WHATSAPP,
        "79991234567",
        False,
        START + 6 * DAY,
        text="Добрый день",
        contact_id=ids["ivan"],
        lead_id=ids["lead_site"],
        to_number="79991234567",
        is_read=True,
        created_at=START,
        updated_at=START,
    )
    ids["incoming"], ids["outgoing"] = incoming.id, outgoing.id
    with uow() as unit:
        unit.accounts.save(account)
        unit.messages.save(incoming)
        unit.messages.save(outgoing)
        unit.commit()
    other = new_world(uow)
    other.funnels.create_funnel(other.admin, "Продажи чужие")
    other.contact("Иван")
    return Data(world, ids, other)


def listing(
    read_model: SqlReadModel, data: Data, resource: Resource, **query: Any
) -> list[dict[str, Any]]:
    page = read_model.list(resource, data.world.company_id, ListQuery(page_size=500, **query))
    assert page.count == len(page.rows)
    return list(page.rows)


NAME_FIELD = {
    Resource.FUNNELS: "name",
    Resource.STAGES: "name",
    Resource.CONTACTS: "first_name",
    Resource.LEADS: "title",
    Resource.DEALS: "title",
    Resource.ACTIVITIES: "title",
    Resource.USERS: "full_name",
    Resource.BRANCHES: "name",
    Resource.ACCOUNTS: "name",
    Resource.MESSAGES: "text",
}

ROW_KEYS = {
    Resource.FUNNELS: "id company company_name name description is_active stages "
    "created_at updated_at",
    Resource.STAGES: "id funnel name order color is_final is_success created_at updated_at",
    Resource.CONTACTS: "id company branch branch_name owner owner_name first_name last_name "
    "middle_name full_name phone phone_secondary email whatsapp instagram telegram "
    "telegram_chat_id company_name position address notes tags source is_active is_client "
    "created_at updated_at",
    Resource.LEADS: "id company contact contact_name funnel funnel_name stage stage_name owner "
    "owner_name title description estimated_value probability source status deal lost_reason "
    "stage_changed_at closed_at created_at updated_at",
    Resource.DEALS: "id company lead lead_title contact contact_name funnel funnel_name stage "
    "stage_name owner owner_name title description amount probability is_won is_lost "
    "lost_reason expected_close_date closed_at stage_changed_at created_at updated_at",
    Resource.ACTIVITIES: "id company user user_name contact contact_name lead lead_title deal "
    "deal_title activity_type activity_type_display title description activity_date due_date "
    "is_done created_at updated_at",
    Resource.USERS: "id email full_name role is_active created_at updated_at",
    Resource.BRANCHES: "id company name address is_active created_at updated_at",
    Resource.ACCOUNTS: "id company company_name name api_key_hint api_url instance_id "
    "integration_type integration_type_display is_active is_connected channel_state last_sync "
    "last_error metadata webhook_url default_funnel auto_create_leads created_at updated_at",
    Resource.MESSAGES: "id account account_info contact contact_name lead message_id chat_type "
    "chat_id from_number to_number message_type message_type_display text media_url caption "
    "is_incoming is_read status status_display error author_name is_edited is_deleted metadata "
    "timestamp created_at updated_at",
}


@pytest.mark.parametrize("resource", list(Resource))
def test_rows_carry_exactly_the_contract_fields(
    read_model: SqlReadModel, data: Data, resource: Resource
) -> None:
    rows = listing(read_model, data, resource)
    assert rows
    for row in rows:
        assert set(row) == set(ROW_KEYS[resource].split())
        assert isinstance(row["id"], uuid.UUID)
        for key in ("created_at", "updated_at", "timestamp", "activity_date"):
            if row.get(key) is not None:
                assert row[key].utcoffset() == timedelta(0)
        detail = read_model.detail(resource, data.world.company_id, row["id"])
        assert detail == row


def test_values_are_plain_and_names_are_joined(read_model: SqlReadModel, data: Data) -> None:
    ids = data.ids
    crm = read_model.detail(Resource.LEADS, data.world.company_id, ids["lead_crm"])
    assert crm["contact_name"] == "Сидорова Ольга"
    assert crm["funnel_name"] == "Продажи" and crm["stage_name"] == "Квалификация"
    assert crm["owner_name"] == "Борис Иванов"
    assert crm["estimated_value"] == Decimal("50000.00") and type(crm["estimated_value"]) is Decimal
    assert crm["probability"] == 0 and type(crm["probability"]) is int
    assert crm["status"] == "converted" and type(crm["status"]) is str
    assert crm["deal"] == ids["deal_crm"]
    deal = read_model.detail(Resource.DEALS, data.world.company_id, ids["deal_crm"])
    assert deal["lead_title"] == "Внедрение CRM" and deal["amount"] == Decimal("50000.00")
    won = read_model.detail(Resource.DEALS, data.world.company_id, ids["deal_won"])
    assert won["is_won"] is True and won["stage_name"] == "Закрыта успешно"
    assert won["expected_close_date"] == date(2027, 1, 15)
    ivan = read_model.detail(Resource.CONTACTS, data.world.company_id, ids["ivan"])
    assert ivan["phone"] == "+79991234567" and ivan["branch_name"] == "Север"
    assert ivan["full_name"] == "Петров Иван" and ivan["owner_name"] == "Анна Смирнова"
    zoe = read_model.detail(Resource.CONTACTS, data.world.company_id, ids["zoe"])
    assert zoe["branch_name"] is None and zoe["tags"] == []
    task = read_model.detail(Resource.ACTIVITIES, data.world.company_id, ids["task"])
    assert task["deal_title"] == "Большая поставка" and task["contact_name"] == "Петров Иван"
    assert task["activity_type_display"] == "Задача" and task["user_name"] == "Борис Иванов"
    assert task["due_date"] == date(2026, 12, 1) and task["lead_title"] is None
    funnel = read_model.detail(Resource.FUNNELS, data.world.company_id, ids["sales"])
    assert [s["order"] for s in funnel["stages"]] == [1, 2, 3, 4, 5, 6]
    assert funnel["stages"][0]["color"] == "#3498db" and funnel["company_name"].startswith("Комп")
    account = read_model.detail(Resource.ACCOUNTS, data.world.company_id, ids["account"])
    assert account["integration_type"] == "whatsapp" and account["api_key_hint"] == "…4321"
    assert "secret" not in account.values() and "enc" not in account.values()
    message = read_model.detail(Resource.MESSAGES, data.world.company_id, ids["incoming"])
    assert message["account_info"] == "chan-1" and message["message_id"] == "wz-1"
    assert message["status_display"] == "Доставлено" and message["contact_name"] == "Петров Иван"


def test_another_company_sees_nothing(read_model: SqlReadModel, data: Data) -> None:
    for resource, key in [
        (Resource.LEADS, "lead_site"),
        (Resource.FUNNELS, "sales"),
        (Resource.STAGES, "stages"),
        (Resource.MESSAGES, "incoming"),
    ]:
        object_id = data.ids[key][0] if key == "stages" else data.ids[key]
        with pytest.raises(NotFound):
            read_model.detail(resource, data.other.company_id, object_id)
    with pytest.raises(NotFound):
        read_model.detail(Resource.LEADS, data.world.company_id, "not-a-uuid")
    names = [r["name"] for r in listing(read_model, data, Resource.FUNNELS)]
    assert "Продажи чужие" not in names


def d(offset_days: int) -> date:
    return (START + offset_days * DAY).date()


# (resource, filters/search, the names expected in any order); ids are looked up by key.
CASES: list[tuple[Resource, dict[str, Any], set[str]]] = [
    (Resource.FUNNELS, {"is_active": False}, {"Аренда"}),
    (Resource.FUNNELS, {"search": "основн"}, {"Продажи"}),
    (
        Resource.STAGES,
        {"funnel": "rent"},
        {
            "Новый лид",
            "Квалификация",
            "Предложение",
            "Переговоры",
            "Закрыта успешно",
            "Закрыта неудачно",
        },
    ),
    (
        Resource.STAGES,
        {"search": "ЗАКРЫТА", "funnel": "sales"},
        {"Закрыта успешно", "Закрыта неудачно"},
    ),
    (Resource.CONTACTS, {"phone": "9991234"}, {"Иван"}),
    (Resource.CONTACTS, {"phone": "79125556677"}, {"Ольга"}),
    (Resource.CONTACTS, {"phone": "٩٩٩١٢٣٤"}, set()),  # Arabic-Indic digits: bound, not written
    (Resource.CONTACTS, {"email": "zoe@MAIL"}, {"Zoe"}),
    (Resource.CONTACTS, {"first_name": "иван"}, {"Иван"}),
    (Resource.CONTACTS, {"last_name": "СИДОР"}, {"Ольга"}),
    (Resource.CONTACTS, {"is_active": False}, {"Zoe"}),
    (Resource.CONTACTS, {"is_client": True}, {"Ольга"}),
    (Resource.CONTACTS, {"source": "САЙТ"}, {"Иван"}),
    (Resource.CONTACTS, {"owner": "boris"}, {"Ольга"}),
    (Resource.CONTACTS, {"branch": "north"}, {"Иван"}),
    (Resource.CONTACTS, {"created_at_after": d(1)}, {"Ольга", "Zoe"}),
    (Resource.CONTACTS, {"created_at_before": d(1)}, {"Иван", "Ольга"}),
    (Resource.CONTACTS, {"created_at_after": d(1), "created_at_before": d(1)}, {"Ольга"}),
    (Resource.CONTACTS, {"search": "ёлка"}, {"Ольга"}),
    (Resource.CONTACTS, {"search": "+7999"}, {"Иван"}),
    (Resource.CONTACTS, {"search": "петров"}, {"Иван"}),
    (Resource.LEADS, {"title": "САЙТА"}, {"Разработка сайта"}),
    (Resource.LEADS, {"funnel": "rent"}, {"Аренда офиса"}),
    (Resource.LEADS, {"stage": "stage1"}, {"Внедрение CRM"}),
    (Resource.LEADS, {"owner": "boris"}, {"Внедрение CRM"}),
    (Resource.LEADS, {"source": "сайт"}, {"Разработка сайта"}),
    (Resource.LEADS, {"status": "lost"}, {"Zoo project"}),
    (Resource.LEADS, {"status": "open"}, {"Разработка сайта", "Аренда офиса"}),
    (Resource.LEADS, {"contact": "olga"}, {"Внедрение CRM", "Аренда офиса"}),
    (Resource.LEADS, {"created_at_after": d(2)}, {"Zoo project"}),
    (Resource.LEADS, {"created_at_before": d(0)}, {"Разработка сайта"}),
    (Resource.LEADS, {"search": "проект"}, {"Внедрение CRM"}),
    (Resource.DEALS, {"title": "поставка"}, {"Большая поставка"}),
    (Resource.DEALS, {"funnel": "sales"}, {"Большая поставка", "Мелкий заказ", "Внедрение CRM"}),
    (Resource.DEALS, {"stage": "stage2"}, {"Большая поставка"}),
    (Resource.DEALS, {"owner": "boris"}, {"Внедрение CRM"}),
    (Resource.DEALS, {"is_won": True}, {"Мелкий заказ"}),
    (Resource.DEALS, {"is_lost": False}, {"Большая поставка", "Мелкий заказ", "Внедрение CRM"}),
    (Resource.DEALS, {"contact": "ivan"}, {"Большая поставка"}),
    (Resource.DEALS, {"lead": "lead_crm"}, {"Внедрение CRM"}),
    (Resource.DEALS, {"expected_close_date": date(2027, 3, 1)}, {"Большая поставка"}),
    (Resource.DEALS, {"expected_close_date_after": date(2027, 2, 1)}, {"Большая поставка"}),
    (Resource.DEALS, {"expected_close_date_before": date(2027, 1, 15)}, {"Мелкий заказ"}),
    (
        Resource.DEALS,
        {"created_at_after": d(2), "created_at_before": d(2)},
        {"Большая поставка", "Мелкий заказ", "Внедрение CRM"},
    ),
    (Resource.DEALS, {"created_at_before": d(1)}, set()),
    (Resource.DEALS, {"search": "БОЛЬШ"}, {"Большая поставка", "Внедрение CRM"}),
    (Resource.ACTIVITIES, {"contact": "ivan", "activity_type": "call"}, {"Позвонить Ивану"}),
    # Losing a lead is a move to the failure stage, recorded like any other [rev 2].
    (
        Resource.ACTIVITIES,
        {"lead": "lead_lost"},
        {"Смена стадии: Новый лид → Закрыта неудачно"},
    ),
    (Resource.ACTIVITIES, {"deal": "deal_big"}, {"Подготовить КП"}),
    (Resource.ACTIVITIES, {"user": "boris"}, {"Подготовить КП"}),
    (Resource.ACTIVITIES, {"is_done": True}, {"Подготовить КП"}),
    (Resource.ACTIVITIES, {"activity_date_after": d(5)}, {"Позвонить Ивану"}),
    (Resource.ACTIVITIES, {"activity_date_before": d(-1)}, {"Подготовить КП"}),
    (Resource.ACTIVITIES, {"search": "кп"}, {"Подготовить КП"}),
    (Resource.USERS, {"is_active": True, "role": "manager"}, {"Борис Иванов"}),
    (Resource.USERS, {"search": "БОРИС"}, {"Борис Иванов"}),
    (Resource.BRANCHES, {"is_active": False}, {"Юг"}),
    (Resource.BRANCHES, {"search": "ленина"}, {"Север"}),
    (
        Resource.ACCOUNTS,
        {"integration_type": "whatsapp", "is_active": True, "is_connected": False},
        {"Основной WA"},
    ),
    (Resource.ACCOUNTS, {"integration_type": "telegram"}, set()),
    (Resource.ACCOUNTS, {"search": "основной"}, {"Основной WA"}),
    (
        Resource.MESSAGES,
        {"account": "account", "contact": "ivan", "is_incoming": True},
        {"Здравствуйте, ЖДУ ответа"},
    ),
    (Resource.MESSAGES, {"lead": "lead_site", "is_read": True}, {"Добрый день"}),
    (Resource.MESSAGES, {"message_type": "text", "status": "pending"}, {"Добрый день"}),
    (Resource.MESSAGES, {"chat_id": "79991234567", "timestamp_after": d(5)}, {"Добрый день"}),
    (Resource.MESSAGES, {"timestamp_before": d(4)}, {"Здравствуйте, ЖДУ ответа"}),
    (Resource.MESSAGES, {"search": "жду"}, {"Здравствуйте, ЖДУ ответа"}),
    (Resource.MESSAGES, {"search": "79991234567"}, {"Здравствуйте, ЖДУ ответа", "Добрый день"}),
]


def resolve(data: Data, value: Any) -> Any:
    if isinstance(value, str) and value.startswith("stage") and value[5:].isdigit():
        return data.ids["stages"][int(value[5:])]
    return data.ids.get(value, value) if isinstance(value, str) else value


@pytest.mark.parametrize(("resource", "narrowing", "expected"), CASES)
def test_filters_and_search(
    read_model: SqlReadModel,
    data: Data,
    resource: Resource,
    narrowing: dict[str, Any],
    expected: set[str],
) -> None:
    search = narrowing.get("search")
    filters = {k: resolve(data, v) for k, v in narrowing.items() if k != "search"}
    rows = listing(read_model, data, resource, filters=filters, search=search)
    assert {row[NAME_FIELD[resource]] for row in rows} == expected


def test_every_filter_and_search_is_exercised() -> None:
    covered = {(r, name) for r, narrowing, _ in CASES for name in narrowing}
    for resource, spec in LIST_SPECS.items():
        for name in {*spec.filters, "search"}:
            assert (resource, name) in covered, (resource, name)


def test_the_digits_of_a_phone_filter_are_written_into_the_statement(
    read_model: SqlReadModel, data: Data, statements: list[str]
) -> None:
    """So that PostgreSQL plans a search by phone knowing its pattern (see `digits_within`)."""
    statements.clear()
    rows = listing(read_model, data, Resource.CONTACTS, filters={"phone": "8 999 123"})
    assert {row["first_name"] for row in rows} == {"Иван"}
    assert any("7999123%" in statement for statement in statements)


def test_a_list_of_one_shape_answers_each_value_it_is_given(
    read_model: SqlReadModel, data: Data
) -> None:
    """Lists narrowed by the same equality filters share statements built once, with the
    values bound: each call answers for its own values, in its own order and page."""
    titles = {
        status: [
            row["title"]
            for row in listing(read_model, data, Resource.LEADS, filters={"status": status})
        ]
        for status in ("open", "lost", "open")
    }
    assert set(titles["open"]) == {"Разработка сайта", "Аренда офиса"}
    assert titles["lost"] == ["Zoo project"]
    newest_first = listing(read_model, data, Resource.LEADS, filters={"status": "open"})
    oldest_first = listing(
        read_model,
        data,
        Resource.LEADS,
        filters={"status": "open"},
        ordering=(("created_at", False),),
    )
    assert [row["id"] for row in oldest_first] == [row["id"] for row in reversed(newest_first)]
    second = read_model.list(
        Resource.LEADS,
        data.world.company_id,
        ListQuery(filters={"status": "open"}, page=2, page_size=1),
    )
    assert (second.count, [row["id"] for row in second.rows]) == (2, [newest_first[1]["id"]])
    nobody = read_model.list(Resource.LEADS, uuid.uuid4(), ListQuery(filters={"status": "open"}))
    assert (nobody.count, nobody.rows) == (0, [])  # another company: the same shape, nothing


def test_unknown_filters_are_ignored(read_model: SqlReadModel, data: Data) -> None:
    rows = listing(
        read_model, data, Resource.BRANCHES, filters={"colour": "red", "is_active": None}
    )
    assert len(rows) == 2


def sort_key(value: Any) -> tuple[bool, Any]:
    return (value is None, value)


def russian_key(text: str) -> tuple[tuple[int, str], ...]:
    """Text as PostgreSQL's ICU Russian collation orders it, as far as the names here need:
    letter by letter, spaces and signs before digits before Cyrillic before Latin, case and
    ё/е told apart only to break ties (which this key leaves equal)."""

    def letter(char: str) -> tuple[int, str]:
        folded = char.casefold().replace("ё", "е")
        if not char.isalnum():
            return (0, folded)
        if char.isdigit():
            return (1, folded)
        return (2 if "а" <= folded <= "я" else 3, folded)

    return tuple(letter(char) for char in text)


def on_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


@pytest.mark.parametrize(
    ("resource", "field"),
    [
        (resource, field)
        for resource, spec in LIST_SPECS.items()
        for field in sorted(spec.ordering_columns)
    ],
)
@pytest.mark.parametrize("descending", [False, True])
def test_every_ordering(
    read_model: SqlReadModel,
    engine: Engine,
    data: Data,
    resource: Resource,
    field: str,
    descending: bool,
) -> None:
    rows = listing(read_model, data, resource, ordering=[(field, descending)])
    keys = [sort_key(row[field]) for row in rows]
    if on_postgres(engine) and isinstance(
        LIST_SPECS[resource].ordering_columns[field], russian_order
    ):  # [rev 2] names sort in Russian alphabetical order on PostgreSQL
        keys = [sort_key(None if row[field] is None else russian_key(row[field])) for row in rows]
    assert keys == sorted(keys, reverse=descending)
    ties: dict[Any, list[uuid.UUID]] = {}
    for row in rows:
        ties.setdefault(row[field], []).append(row["id"])
    for same in ties.values():  # the id settles ties, in the same direction
        assert same == sorted(same, reverse=descending)


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (
            Resource.LEADS,
            lambda r: sorted(r, key=lambda x: (x["created_at"], x["id"]), reverse=True),
        ),
        (Resource.STAGES, lambda r: sorted(r, key=lambda x: (x["funnel"], x["order"], x["id"]))),
        (
            Resource.ACTIVITIES,
            lambda r: sorted(r, key=lambda x: (x["activity_date"], x["id"]), reverse=True),
        ),
        (
            Resource.MESSAGES,
            lambda r: sorted(r, key=lambda x: (x["timestamp"], x["id"]), reverse=True),
        ),
    ],
)
def test_default_orderings(
    read_model: SqlReadModel,
    data: Data,
    resource: Resource,
    expected: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
) -> None:
    rows = listing(read_model, data, resource)
    assert rows == expected(rows)


def test_several_orderings(read_model: SqlReadModel, engine: Engine, data: Data) -> None:
    rows = listing(
        read_model, data, Resource.LEADS, ordering=[("estimated_value", True), ("title", False)]
    )
    # Equal values, then titles: binary order on SQLite, Russian (Cyrillic first) on PostgreSQL.
    tied = ["Zoo project", "Аренда офиса"]
    assert [r["title"] for r in rows] == [
        "Разработка сайта",
        "Внедрение CRM",
        *(reversed(tied) if on_postgres(engine) else tied),
    ]


def test_pages_neither_overlap_nor_skip(
    read_model: SqlReadModel, make_world: Callable[..., World]
) -> None:
    world = make_world()
    funnel_id = world.funnels.create_funnel(world.admin, "Много")
    contact_id = world.contact()
    for index in range(7):  # all created at the same instant: only the id orders them
        world.lead(contact_id, funnel_id, f"Лид {index}")
    seen = []
    for page_number in range(1, 5):
        page = read_model.list(
            Resource.LEADS, world.company_id, ListQuery(page=page_number, page_size=2)
        )
        assert page.count == 7
        seen += [row["id"] for row in page.rows]
    assert len(seen) == len(set(seen)) == 7
    whole = read_model.list(Resource.LEADS, world.company_id, ListQuery(page_size=50))
    assert [row["id"] for row in whole.rows] == seen
    assert (
        read_model.list(Resource.LEADS, world.company_id, ListQuery(page=9, page_size=2)).rows == []
    )


def test_a_page_costs_the_same_statements_at_any_size(
    uow: Callable[[], SqlUnitOfWork],
    read_model: SqlReadModel,
    make_world: Callable[..., World],
    statements: list[str],
) -> None:
    world = make_world()
    funnel_id = world.funnels.create_funnel(world.admin, "Объём")
    contact_id = world.contact()
    with uow() as unit:
        funnel = unit.funnels.get(world.company_id, funnel_id)
        for index in range(500):
            unit.leads.save(
                Lead.open(
                    company_id=world.company_id,
                    contact_id=contact_id,
                    funnel=funnel,
                    title=f"Лид {index}",
                    now=world.clock.now(),
                    actor=world.admin.user_id,
                )
            )
        unit.commit()
    costs = []
    for size in (10, 500):
        statements.clear()
        page = read_model.list(Resource.LEADS, world.company_id, ListQuery(page_size=size))
        assert len(page.rows) == size and all(r["owner_name"] == "Анна Смирнова" for r in page.rows)
        costs.append(len(statements))
    assert costs[0] == costs[1] == 2
    # The page and its stages; then the count, unless a short page tells it.
    for size, expected in ((1, 3), (50, 2)):
        statements.clear()
        page = read_model.list(Resource.FUNNELS, world.company_id, ListQuery(page_size=size))
        assert page.count == 1 and len(statements) == expected


def test_the_count_is_the_same_whether_counted_or_told_by_a_short_page(
    read_model: SqlReadModel, make_world: Callable[..., World], statements: list[str]
) -> None:
    world = make_world()
    for index in range(7):
        world.contact(first_name=f"Счёт{index}")
    everyone = read_model.list(Resource.CONTACTS, world.company_id, ListQuery(page_size=500))
    total = everyone.count
    assert total == len(everyone.rows) >= 7
    for page_size in (1, 3, total - 1, total, total + 1):
        pages = -(-total // page_size)
        for number in range(1, pages + 1):
            statements.clear()
            page = read_model.list(
                Resource.CONTACTS, world.company_id, ListQuery(page=number, page_size=page_size)
            )
            assert page.count == total
            short = len(page.rows) < page_size
            assert len(statements) == (1 if short else 2)  # the count only when not told
    statements.clear()
    past = read_model.list(Resource.CONTACTS, world.company_id, ListQuery(page=99, page_size=5))
    assert (past.count, past.rows, len(statements)) == (total, [], 2)
    statements.clear()
    none = read_model.list(
        Resource.CONTACTS, world.company_id, ListQuery(search="нет-такого", page_size=5)
    )
    assert (none.count, none.rows, len(statements)) == (0, [], 1)


def test_the_timeline_merges_activities_and_messages(read_model: SqlReadModel, data: Data) -> None:
    ids, company = data.ids, data.world.company_id
    page = read_model.contact_timeline(company, ids["ivan"], 1, 50)
    kinds = [(row["kind"], row["id"]) for row in page.rows]
    moments = [row.get("activity_date") or row["timestamp"] for row in page.rows]
    assert moments == sorted(moments, reverse=True)
    assert ("message", ids["outgoing"]) in kinds and ("activity", ids["call_activity"]) in kinds
    assert ("activity", ids["task"]) in kinds  # the deal's task names the contact too
    assert kinds[:3] == [
        ("message", ids["outgoing"]),
        ("activity", ids["call_activity"]),
        ("message", ids["incoming"]),
    ]
    assert page.count == len(page.rows)
    second = read_model.contact_timeline(company, ids["ivan"], 2, 2)
    assert [row["id"] for row in second.rows] == [row["id"] for row in page.rows[2:4]]
    with pytest.raises(NotFound):
        read_model.contact_timeline(data.other.company_id, ids["ivan"], 1, 50)


def test_cyrillic_case_folding_both_ways(read_model: SqlReadModel, data: Data) -> None:
    for text in ("иван", "ИВАН", "Иван", "иВаН"):
        rows = listing(read_model, data, Resource.CONTACTS, filters={"first_name": text})
        assert [r["first_name"] for r in rows] == ["Иван"]
    assert listing(read_model, data, Resource.CONTACTS, search="%") == []
    assert listing(read_model, data, Resource.CONTACTS, search="_") == []


def test_aware_times_in_filters(read_model: SqlReadModel, data: Data) -> None:
    _ = datetime.now(UTC)
    rows = listing(
        read_model,
        data,
        Resource.LEADS,
        filters={"created_at_after": d(0), "created_at_before": d(0)},
    )
    assert [r["title"] for r in rows] == ["Разработка сайта"]
