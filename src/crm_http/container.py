"""The composition root: which adapter serves which port. Built by `create_app`, never at import."""

from __future__ import annotations

from collections.abc import Callable

from dependency_injector import containers, providers
from sqlalchemy import Engine, text

from crm_adapters.sql.engine import create_database_engine
from crm_adapters.sql.read_model import SqlReadModel
from crm_adapters.sql.unit_of_work import unit_of_work_factory
from crm_adapters.system import ScryptPasswordHasher, SystemClock
from crm_core.services.activities import ActivityUseCases
from crm_core.services.contacts import ContactUseCases
from crm_core.services.funnels import FunnelUseCases
from crm_core.services.pipeline import DealUseCases, LeadUseCases
from crm_core.services.tenancy import AccessUseCases
from crm_http.config import Settings


def _database_check(engine: Engine) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:  # any failure to reach the database is "down", whatever the driver says
            return False
        return True

    return check


class Container(containers.DeclarativeContainer):
    settings = providers.Configuration()

    engine = providers.Singleton(create_database_engine, settings.database_url)
    # The use cases take a callable that opens a new unit of work per call.
    uow = providers.Singleton(unit_of_work_factory, engine)
    read_model = providers.Singleton(SqlReadModel, engine=engine)
    database_check = providers.Singleton(_database_check, engine)

    clock = providers.Singleton(SystemClock)
    hasher = providers.Singleton(ScryptPasswordHasher)

    access = providers.Singleton(
        AccessUseCases,
        uow=uow,
        clock=clock,
        hasher=hasher,
        default_region=settings.default_region,
    )
    funnels = providers.Singleton(FunnelUseCases, uow=uow, clock=clock)
    contacts = providers.Singleton(ContactUseCases, uow=uow, clock=clock)
    leads = providers.Singleton(LeadUseCases, uow=uow, clock=clock)
    deals = providers.Singleton(DealUseCases, uow=uow, clock=clock)
    activities = providers.Singleton(ActivityUseCases, uow=uow, clock=clock)


def configure(container: Container, settings: Settings) -> None:
    container.settings.from_dict(
        {
            "database_url": settings.database_url,
            "public_url": settings.public_url,
            "default_region": settings.default_region,
        }
    )
