"""The demo company that `crm demo` loads into an empty database, through the use cases."""

from __future__ import annotations

from crm_core.ports import Resource
from crm_core.services.contacts import CreateContact
from crm_core.services.pipeline import CreateLead
from crm_core.tenancy import Actor, Role
from crm_core.values import Money, Probability
from crm_http.container import Container

DEMO_COMPANY = "Демо: ООО «Ромашка»"
DEMO_ADMIN = "admin@demo.example"
DEMO_MANAGER = "manager@demo.example"
DEMO_PASSWORD = "demo-password"

CONTACTS = (
    CreateContact(first_name="Иван", last_name="Петров", phone="+7 (999) 123-45-67", source="site"),
    CreateContact(
        first_name="Мария", last_name="Иванова", email="maria@example.com", source="call"
    ),
    CreateContact(first_name="Алексей", last_name="Смирнов", whatsapp="8 916 555-12-34"),
    CreateContact(
        first_name="Ольга", last_name="Кузнецова", instagram="@olga.k", source="instagram"
    ),
    CreateContact(first_name="Дмитрий", last_name="Соколов", phone="8 903 777-00-11"),
)

LEADS = (  # contact index, title, value, stage index (0-based), fate
    (0, "Разработка сайта", "150000", 0, "open"),
    (1, "Настройка CRM", "80000", 1, "open"),
    (2, "Интернет-магазин", "420000", 2, "deal"),
    (3, "SMM-сопровождение", "60000", 3, "won"),
    (4, "Мобильное приложение", "900000", 1, "lost"),
)


def load_demo(container: Container) -> str:
    """Fills an empty database and returns a token of the demo admin."""
    access = container.access()
    _, token = access.create_user(
        DEMO_COMPANY, DEMO_ADMIN, DEMO_PASSWORD, Role.ADMIN, "Анна Админова"
    )
    access.create_user(DEMO_COMPANY, DEMO_MANAGER, DEMO_PASSWORD, Role.MANAGER, "Михаил Менеджеров")
    admin = access.authenticate(token)
    assert isinstance(admin, Actor)

    funnel_id = container.funnels().create_funnel(admin, "Продажи услуг", description="Демо")
    contacts = [container.contacts().create_contact(admin, command) for command in CONTACTS]
    leads, deals = container.leads(), container.deals()
    funnel = container.read_model().detail(Resource.FUNNELS, admin.company_id, funnel_id)
    stage_ids = [stage["id"] for stage in funnel["stages"]]
    for contact, title, value, stage, fate in LEADS:
        lead_id = leads.create_lead(
            admin,
            CreateLead(
                contact_id=contacts[contact],
                funnel_id=funnel_id,
                title=title,
                estimated_value=Money(value),
                probability=Probability(40),
            ),
        )
        if stage:
            leads.move_lead(admin, lead_id, stage_ids[stage])
        if fate == "lost":
            leads.mark_lead_lost(admin, lead_id, "Выбрали другого подрядчика")
        elif fate in ("deal", "won"):
            deal_id = leads.convert_lead(admin, lead_id)
            if fate == "won":
                deals.mark_won(admin, deal_id)
    return token
