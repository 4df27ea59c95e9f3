"""The demo company that `crm demo` loads into an empty database: a small sales team's funnel
with ten weeks of history, written through the use cases on a clock the story moves forward."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import attrs

from crm_core.funnel import StageSpec
from crm_core.ports import Resource
from crm_core.services.activities import ActivityUseCases, CreateActivity
from crm_core.services.contacts import ContactUseCases, CreateContact
from crm_core.services.funnels import FunnelUseCases
from crm_core.services.pipeline import CreateDeal, CreateLead, DealUseCases, LeadUseCases
from crm_core.services.tenancy import AccessUseCases
from crm_core.tenancy import Actor, Role
from crm_core.values import Color, ContactId, DealId, FunnelId, LeadId, Money, Probability, StageId
from crm_http.container import Container

DEMO_COMPANY = "Демо: ООО «Ромашка»"
DEMO_ADMIN = "admin@demo.example"
DEMO_MANAGER = "manager@demo.example"
DEMO_SECOND_MANAGER = "elena@demo.example"
DEMO_PASSWORD = "demo-password"
DEMO_FUNNEL = "Продажи услуг"

ANNA, MIKHAIL, ELENA = range(3)
TEAM = (  # the head of sales and two managers
    (DEMO_ADMIN, Role.ADMIN, "Анна Соколова"),
    (DEMO_MANAGER, Role.MANAGER, "Михаил Орлов"),
    (DEMO_SECOND_MANAGER, Role.MANAGER, "Елена Васильева"),
)

STAGES = (
    StageSpec("Новая заявка", 1, Color("#3b82f6")),
    StageSpec("Квалификация", 2, Color("#8b5cf6")),
    StageSpec("Предложение", 3, Color("#f59e0b")),
    StageSpec("Переговоры", 4, Color("#f97316")),
    StageSpec("Договор и счёт", 5, Color("#14b8a6")),
    StageSpec("Успешно", 6, Color("#22c55e"), is_final=True, is_success=True),
    StageSpec("Провалено", 7, Color("#ef4444"), is_final=True),
)
QUALIFIED = 1  # the stage where a lead becomes a deal
PRESENTED = 2  # the stage entered after a meeting that presents the offer
PROBABILITY = (10, 25, 40, 60, 80)  # by the open stage reached

# What became of a sale: a lead that stays a lead, a lead made a deal once qualified, or a
# deal opened directly (mostly for a client who bought before).
LEAD, DEAL, DIRECT = "lead", "deal", "direct"
# Where it stands: still open, won, or lost for a reason.
OPEN, WON = "", "won"
NO_BUDGET, RIVAL, FROZEN = "Нет бюджета в этом году", "Выбрали другого подрядчика", "Заморожен"
# An open task on it: overdue, due today, due in a few days.
LATE, TODAY, SOON = "late", "today", "soon"


@attrs.frozen
class Sale:
    client: str  # the client company; one contact each
    title: str
    amount: int
    owner: int
    kind: str
    stage: int  # the last open stage it reached
    fate: str = OPEN
    task: str = ""


S = Sale
STORY = (
    # deals still open
    S("ООО «Вектор»", "Доработка личного кабинета", 180_000, MIKHAIL, DIRECT, 0, OPEN, TODAY),
    S("ГК «Северный двор»", "Техподдержка на 2027 год", 360_000, ELENA, DIRECT, 0),
    S("ООО «ТехноСтрой»", "Корпоративный сайт с каталогом", 650_000, MIKHAIL, DEAL, 1, OPEN, LATE),
    S("ООО «Альфа Логистик»", "Внедрение amoCRM", 240_000, ELENA, DEAL, 1),
    S("Студия йоги «Прана»", "Лендинг для весенней акции", 85_000, MIKHAIL, DEAL, 1),
    S("ООО «Агроимпекс»", "Интеграция сайта с 1С", 320_000, ELENA, DIRECT, 1),
    S("Химчистка «Лотос»", "Чат-бот для WhatsApp", 120_000, MIKHAIL, DEAL, 1, OPEN, SOON),
    S("ООО «Мебельград»", "Интернет-магазин на 1С-Битрикс", 1_450_000, ANNA, DEAL, 2, OPEN, TODAY),
    S("Клиника «Здоровье+»", "SEO-продвижение на год", 720_000, ELENA, DEAL, 2),
    S("ООО «ДоставкаЕды»", "Мобильное приложение доставки", 2_800_000, ANNA, DEAL, 2),
    S("Стоматология «Улыбка»", "Редизайн сайта клиники", 390_000, MIKHAIL, DEAL, 2, OPEN, LATE),
    S("ООО «Автомир»", "Контекстная реклама", 150_000, ELENA, DEAL, 2),
    S("Барбершоп «Борода»", "Телеграм-бот для записи", 95_000, MIKHAIL, DEAL, 2),
    S("АО «Промснаб»", "Портал для дилеров", 1_900_000, ANNA, DIRECT, 2),
    S("ООО «ОптТорг»", "B2B-каталог с личным кабинетом", 980_000, ELENA, DEAL, 3, OPEN, TODAY),
    S("ООО «Домашний уют»", "Интеграция с Ozon и Wildberries", 430_000, MIKHAIL, DEAL, 3),
    S("АО «Энергосеть»", "Корпоративный портал", 3_600_000, ANNA, DEAL, 3, OPEN, SOON),
    S("Салоны «Шарм»", "Система онлайн-записи", 560_000, MIKHAIL, DEAL, 3),
    S("ООО «Финпартнёр»", "Аудит юзабилити и прототипы", 140_000, ELENA, DEAL, 3, OPEN, LATE),
    S("Фитнес-клуб «Атлет»", "Второй этап приложения", 470_000, ELENA, DIRECT, 3),
    S("ГК «Новый квартал»", "Сайт жилого комплекса", 1_250_000, MIKHAIL, DEAL, 3),
    S("Кофейня «Зерно»", "Фирменный стиль", 210_000, ELENA, DEAL, 4, OPEN, TODAY),
    S("ООО «Спортмастерская»", "Переезд магазина на новую CMS", 860_000, MIKHAIL, DEAL, 4),
    S("Юрфирма «Право»", "Годовое сопровождение сайта", 120_000, ANNA, DIRECT, 4, OPEN, SOON),
    S("СК «Надёжный щит»", "Кабинет страхового агента", 1_700_000, ANNA, DEAL, 4),
    S("Автосалон «Драйв»", "Лендинг с квизом", 110_000, MIKHAIL, DEAL, 4, OPEN, LATE),
    S("ООО «Бизнес-Софт»", "Интеграция телефонии с CRM", 165_000, ELENA, DIRECT, 4),
    # deals won
    S("Юрфирма «Право»", "Сайт-визитка", 95_000, MIKHAIL, DEAL, 4, WON),
    S("ООО «СтройМаркет»", "Интернет-магазин стройматериалов", 1_150_000, ELENA, DEAL, 4, WON),
    S("ООО «Бизнес-Софт»", "Внедрение Битрикс24", 420_000, ANNA, DEAL, 3, WON),
    S("Фитнес-клуб «Атлет»", "Приложение для фитнес-клуба", 1_850_000, ANNA, DEAL, 4, WON),
    S("ООО «Вектор»", "Корпоративный сайт", 380_000, MIKHAIL, DEAL, 4, WON),
    S("ГК «Северный двор»", "Техподдержка на 2026 год", 300_000, ELENA, DEAL, 3, WON),
    S("Пекарня «Колос»", "SEO-аудит сайта", 60_000, MIKHAIL, DIRECT, 2, WON),
    # deals lost
    S("ООО «Маркет Плейс»", "Маркетплейс услуг", 4_200_000, ANNA, DEAL, 3, RIVAL),
    S("Ресторан «Печки-лавочки»", "Сайт ресторана", 130_000, MIKHAIL, DEAL, 2, NO_BUDGET),
    S("ООО «Такси Плюс»", "Приложение для такси", 2_400_000, ELENA, DEAL, 2, FROZEN),
    S("ООО «Уралхим»", "Реклама в Яндекс Директе", 70_000, MIKHAIL, DIRECT, 1, RIVAL),
    # leads still open
    S("Стоматология «Дента»", "Сайт для стоматологии", 250_000, MIKHAIL, LEAD, 0, OPEN, TODAY),
    S("Магазин «Всё для дачи»", "Доработка интернет-магазина", 140_000, ELENA, LEAD, 0),
    S("Школа «Спикер»", "Чат-бот для Telegram", 60_000, MIKHAIL, LEAD, 0),
    S("ООО «Климат-Сервис»", "Интеграция CRM с сайтом", 90_000, ELENA, LEAD, 0),
    S("ООО «ТрансЛогистика»", "Сайт логистической компании", 520_000, ANNA, LEAD, 0),
    S("Кофейни «Бодрое утро»", "Приложение лояльности", 1_300_000, MIKHAIL, LEAD, 0, OPEN, LATE),
    S("Онлайн-школа «Знание»", "Лендинг онлайн-курса", 75_000, ELENA, LEAD, 0),
    S("АН «Ключ»", "Сайт агентства недвижимости", 310_000, MIKHAIL, LEAD, 0),
    S("Клиника «Ветеринар»", "Сквозная аналитика", 110_000, ELENA, LEAD, 0),
    S("ЗАО «Металлург»", "Каталог продукции завода", 680_000, ANNA, LEAD, 1, OPEN, SOON),
    S("Бутик «Мода»", "Редизайн магазина одежды", 450_000, MIKHAIL, LEAD, 1),
    S("ООО «Окна Профи»", "Внедрение amoCRM", 180_000, ELENA, LEAD, 1, OPEN, TODAY),
    S("Частная школа «Лицей»", "Сайт частной школы", 230_000, MIKHAIL, LEAD, 1),
    S("ТСЖ «Солнечный»", "Приложение для жильцов", 900_000, ELENA, LEAD, 1),
    S("Автосервис «Гараж»", "Онлайн-запись в автосервис", 95_000, MIKHAIL, LEAD, 1),
    S("ПАО «СеверТрейд»", "Портал поставщиков", 1_600_000, ANNA, LEAD, 1),
    S("Медцентр «Авиценна»", "SEO для медицинского центра", 360_000, ELENA, LEAD, 1, OPEN, LATE),
    S("Банк «Развитие»", "Личный кабинет клиента банка", 3_200_000, ANNA, LEAD, 2),
    S("ООО «Автозапчасть»", "Интернет-магазин запчастей", 870_000, MIKHAIL, LEAD, 2),
    S("Фестиваль «Белые ночи»", "Сайт фестиваля", 160_000, ELENA, LEAD, 2),
    # leads lost
    S("ИП Смирнов", "Сайт за 10 000 рублей", 10_000, MIKHAIL, LEAD, 0, NO_BUDGET),
    S("ООО «Старт»", "Приложение «как Uber»", 5_000_000, ELENA, LEAD, 1, FROZEN),
    S("Салон цветов «Флора»", "Продвижение в соцсетях", 50_000, MIKHAIL, LEAD, 0, RIVAL),
    S("Кафе «Уют»", "Сайт для кафе", 120_000, ELENA, LEAD, 1, RIVAL),
)

MEN = (  # first name and patronymic
    "Алексей Сергеевич",
    "Дмитрий Андреевич",
    "Сергей Викторович",
    "Андрей Николаевич",
    "Игорь Павлович",
    "Павел Олегович",
    "Николай Иванович",
    "Артём Дмитриевич",
    "Владимир Петрович",
    "Максим Александрович",
)
WOMEN = (
    "Ольга Владимировна",
    "Наталья Сергеевна",
    "Ирина Алексеевна",
    "Татьяна Михайловна",
    "Светлана Игоревна",
    "Екатерина Андреевна",
    "Юлия Викторовна",
    "Мария Дмитриевна",
    "Анастасия Павловна",
    "Марина Юрьевна",
)
SURNAMES = (  # masculine; the feminine adds «а»
    "Иванов",
    "Кузнецов",
    "Попов",
    "Лебедев",
    "Козлов",
    "Новиков",
    "Морозов",
    "Волков",
    "Фёдоров",
    "Михайлов",
    "Беляев",
    "Тарасов",
    "Белов",
    "Комаров",
    "Киселёв",
    "Макаров",
    "Андреев",
    "Ковалёв",
    "Ильин",
    "Гусев",
    "Титов",
    "Кузьмин",
    "Медведев",
    "Антонов",
    "Никитин",
    "Захаров",
    "Зайцев",
    "Павлов",
    "Семёнов",
    "Голубев",
    "Виноградов",
    "Богданов",
    "Воробьёв",
    "Поляков",
    "Соловьёв",
    "Васнецов",
    "Жуков",
    "Фролов",
    "Носков",
    "Крылов",
)
POSITIONS = (
    "Генеральный директор",
    "Коммерческий директор",
    "Директор по маркетингу",
    "Руководитель отдела продаж",
    "Маркетолог",
    "ИТ-директор",
    "Собственник",
    "Управляющий",
)
SOURCES = ("Сайт", "Звонок", "Рекомендация", "Яндекс Директ", "Выставка", "WhatsApp")
MOBILE_CODES = ("903", "905", "909", "915", "916", "917", "921", "925", "926", "977", "985", "999")
# Russian letters in Latin ones, for the contacts' e-mail addresses («-»: no letter).
LATIN_LETTERS = "a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh shch - y - e yu ya"
LATIN = dict(
    zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя", LATIN_LETTERS.replace("-", "").split(" "), strict=True)
)
NEXT_TASK = (  # the open task of a sale, by its stage
    "Перезвонить и уточнить задачу",
    "Назначить встречу с ЛПР",
    "Отправить коммерческое предложение",
    "Согласовать скидку и сроки",
    "Проверить оплату счёта",
)

HISTORY_DAYS = 70
MOSCOW = timezone(timedelta(hours=3))
SEED = 13  # the same story on every load, relative to the day it is loaded


class StoryClock:
    """The demo's clock: the story sets it to each step's moment, in order."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current


@attrs.frozen
class _Step:
    moment: datetime
    order: tuple[int, int, int]  # clients first, then by sale and step
    run: Callable[[], None]


@attrs.define
class _Progress:
    """What one sale's steps made so far: its lead, then its deal."""

    lead: LeadId | None = None
    deal: DealId | None = None

    def activity(self, activity_type: str, title: str, **fields: Any) -> CreateActivity:
        """An activity about the sale: about its deal once there is one."""
        if self.deal is not None:
            return CreateActivity(
                activity_type=activity_type, title=title, deal_id=self.deal, **fields
            )
        return CreateActivity(activity_type=activity_type, title=title, lead_id=self.lead, **fields)


class _Story:
    """The use cases on the story's clock, and the steps to replay through them."""

    def __init__(self, container: Container, now: datetime) -> None:
        self.now = now
        self.today = now.date()
        self.clock = StoryClock(now - timedelta(days=HISTORY_DAYS + 1))
        uow = container.uow()
        region = container.settings.default_region()
        self.access = AccessUseCases(uow, self.clock, container.hasher(), region)
        self.funnels = FunnelUseCases(uow, self.clock)
        self.contacts = ContactUseCases(uow, self.clock)
        self.leads = LeadUseCases(uow, self.clock)
        self.deals = DealUseCases(uow, self.clock)
        self.activities = ActivityUseCases(uow, self.clock)
        self.rng = random.Random(SEED)
        self.steps: list[_Step] = []
        self.clients: dict[str, ContactId] = {}

    def moment(self, days_ago: int) -> datetime:
        """A working hour `days_ago` days before now (Moscow time), and not after now."""
        day = (self.now.astimezone(MOSCOW) - timedelta(days=days_ago)).date()
        minutes = self.rng.randint(9 * 60, 18 * 60 + 30)
        local = datetime(day.year, day.month, day.day, tzinfo=MOSCOW) + timedelta(minutes=minutes)
        return min(local.astimezone(UTC), self.now - timedelta(minutes=10))

    def at(self, moment: datetime, order: tuple[int, int, int], run: Callable[[], None]) -> None:
        self.steps.append(_Step(moment, order, run))

    def play(self) -> None:
        for step in sorted(self.steps, key=lambda step: (step.moment, step.order)):
            self.clock.current = step.moment
            step.run()


def load_demo(container: Container) -> str:
    """Fills an empty database with the demo company; returns a token of the demo admin."""
    story = _Story(container, container.clock().now())
    tokens = [
        story.access.create_user(DEMO_COMPANY, email, DEMO_PASSWORD, role, name)[1]
        for email, role, name in TEAM
    ]
    team = [story.access.authenticate(token) for token in tokens]
    actors = [actor for actor in team if actor is not None]
    assert len(actors) == len(TEAM)
    head = actors[ANNA]
    funnel_id = story.funnels.create_funnel(
        head, DEMO_FUNNEL, description="Разработка и продвижение сайтов", stages=STAGES
    )
    funnel = container.read_model().detail(Resource.FUNNELS, head.company_id, funnel_id)
    stage_ids: list[StageId] = [stage["id"] for stage in funnel["stages"]]

    first_sale: dict[str, tuple[datetime, int]] = {}
    for number, sale in enumerate(STORY):
        started = _plan(story, number, sale, actors[sale.owner], funnel_id, stage_ids)
        if sale.client not in first_sale or started < first_sale[sale.client][0]:
            first_sale[sale.client] = (started, number)
    for index, (client, (started, number)) in enumerate(first_sale.items()):
        person = _person(index, client, story.rng)
        owner = actors[STORY[number].owner]
        story.at(started, (0, number, 0), _add_client(story, owner, client, person))
    story.play()
    return tokens[ANNA]


def _latin(text: str) -> str:
    return "".join(LATIN.get(letter, letter) for letter in text.lower())


def _person(index: int, client: str, rng: random.Random) -> CreateContact:
    """The client's contact person: a Russian name, a mobile phone, mostly an e-mail."""
    man = rng.random() < 0.5
    first, middle = rng.choice(MEN if man else WOMEN).split()
    surname = SURNAMES[index % len(SURNAMES)] + ("" if man else "а")
    code = MOBILE_CODES[index % len(MOBILE_CODES)]
    digits = f"{(index * 7919 + 2_345_678) % 10_000_000:07d}"
    phone = f"+7 ({code}) {digits[:3]}-{digits[3:5]}-{digits[5:]}"
    return CreateContact(
        first_name=first,
        middle_name=middle,
        last_name=surname,
        phone=phone,
        whatsapp=phone if rng.random() < 0.4 else None,
        email=f"{_latin(first)}.{_latin(surname)}@mail.example" if rng.random() < 0.7 else None,
        company_name=client,
        position=rng.choice(POSITIONS),
        source=rng.choice(SOURCES),
    )


def _add_client(
    story: _Story, owner: Actor, client: str, person: CreateContact
) -> Callable[[], None]:
    def run() -> None:
        story.clients[client] = story.contacts.create_contact(owner, person)

    return run


def _days_ago(steps: int, sale: Sale, rng: random.Random) -> list[int]:
    """When each of a sale's steps happened, in days before today, oldest first: a few days
    between steps, the last one recent for an open sale (long enough ago for its task to be
    overdue) and up to eight weeks ago for a closed one."""
    if sale.fate != OPEN:
        last = rng.randint(1, 56)
    else:
        last = rng.choice((0, 1, 1, 2, 2, 3, 4, 5, 6, 8, 10, 13, 17, 23))
        if sale.task == LATE:
            last = max(last, 5)
    gaps = [rng.randint(1, 8) for _ in range(steps - 1)]
    while sum(gaps) > HISTORY_DAYS - last and max(gaps) > 1:
        gaps[gaps.index(max(gaps))] -= 1
    return [last + sum(gaps[index:]) for index in range(steps)]


def _plan(
    story: _Story,
    number: int,
    sale: Sale,
    actor: Actor,
    funnel_id: FunnelId,
    stage_ids: list[StageId],
) -> datetime:
    """Schedules one sale's steps, from its first call to where it stands today; returns when
    it started."""
    rng = story.rng
    progress = _Progress()
    first = 0 if sale.kind != DIRECT or sale.stage == 0 else rng.choice((0, 1))
    steps: list[Callable[[], None]] = [
        _open(story, actor, sale, progress, funnel_id, stage_ids[first], rng.choice(SOURCES))
    ]
    for stage in range(first + 1, sale.stage + 1):
        if sale.kind == DEAL and stage == QUALIFIED + 1:
            steps.append(_convert(story, actor, progress))
        steps.append(_move(story, actor, progress, stage_ids[stage], stage == PRESENTED))
    if sale.kind == DEAL and sale.stage == QUALIFIED:
        steps.append(_convert(story, actor, progress))
    if sale.fate != OPEN:
        steps.append(_close(story, actor, progress, sale.fate))
    moments = [story.moment(day) for day in _days_ago(len(steps), sale, rng)]
    for index, (moment, step) in enumerate(zip(moments, steps, strict=True)):
        story.at(moment, (1, number, index), step)
    if sale.task:
        due = {
            LATE: story.today - timedelta(days=rng.randint(1, 4)),
            TODAY: story.today,
            SOON: story.today + timedelta(days=rng.randint(1, 5)),
        }[sale.task]
        title = NEXT_TASK[sale.stage]
        story.at(moments[-1], (1, number, len(steps)), _task(story, actor, progress, title, due))
    return moments[0]


def _open(
    story: _Story,
    actor: Actor,
    sale: Sale,
    progress: _Progress,
    funnel_id: FunnelId,
    stage_id: StageId,
    source: str,
) -> Callable[[], None]:
    amount, probability = Money(sale.amount), Probability(PROBABILITY[sale.stage])

    def run() -> None:
        contact = story.clients[sale.client]
        if sale.kind == DIRECT:
            progress.deal = story.deals.create_deal(
                actor,
                CreateDeal(
                    contact_id=contact,
                    funnel_id=funnel_id,
                    title=sale.title,
                    stage_id=stage_id,
                    amount=amount,
                    probability=probability,
                ),
            )
        else:
            progress.lead = story.leads.create_lead(
                actor,
                CreateLead(
                    contact_id=contact,
                    funnel_id=funnel_id,
                    title=sale.title,
                    estimated_value=amount,
                    probability=probability,
                    source=source,
                ),
            )
        call = progress.activity(
            "call", "Первый звонок", description="Обсудили задачу, бюджет и сроки.", is_done=True
        )
        story.activities.create_activity(actor, call)

    return run


def _move(
    story: _Story, actor: Actor, progress: _Progress, stage_id: StageId, met: bool
) -> Callable[[], None]:
    def run() -> None:
        if progress.deal is not None:
            story.deals.move_deal(actor, progress.deal, stage_id)
        else:
            assert progress.lead is not None
            story.leads.move_lead(actor, progress.lead, stage_id)
        if met:
            meeting = progress.activity("meeting", "Встреча: презентация решения", is_done=True)
            story.activities.create_activity(actor, meeting)

    return run


def _convert(story: _Story, actor: Actor, progress: _Progress) -> Callable[[], None]:
    def run() -> None:
        assert progress.lead is not None
        progress.deal = story.leads.convert_lead(actor, progress.lead)

    return run


def _close(story: _Story, actor: Actor, progress: _Progress, fate: str) -> Callable[[], None]:
    def run() -> None:
        if progress.deal is None:
            assert progress.lead is not None
            story.leads.mark_lead_lost(actor, progress.lead, fate)
        elif fate == WON:
            story.deals.mark_won(actor, progress.deal)
        else:
            story.deals.mark_lost(actor, progress.deal, fate)

    return run


def _task(
    story: _Story, actor: Actor, progress: _Progress, title: str, due: date
) -> Callable[[], None]:
    def run() -> None:
        story.activities.create_activity(actor, progress.activity("task", title, due_date=due))

    return run
