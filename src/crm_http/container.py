"""The composition root: which adapter serves which port. Built by `create_app`, never at import."""

from __future__ import annotations

from collections.abc import Callable

from crm_adapters.sql.read_model import SqlReadModel
from crm_adapters.sql.uow import SqlUnitOfWork
from dependency_injector import containers, providers
from sqlalchemy import Engine, text
from sqlalchemy.orm import sessionmaker

from crm_adapters.sql.engine import create_engine_for
from crm_adapters.sql.mapping import start_mappers
from crm_adapters.system import ScryptPasswordHasher, SystemClock
from crm_core.services.activities import ActivityUseCases
from crm_core.services.contacts import ContactUseCases
from crm_core.services.funnels import FunnelUseCases
from crm_core.services.pipeline import DealUseCases, LeadUseCases
from crm_core.services.tenancy import AccessUseCases


def _database_check(engine: Engine) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:  # any failure to reach the database is "down", whatever the driver says
            return False
        return True

    return check


def _engine(url: str) -> Engine:
    start_mappers()
    return create_engine_for(url)


class Container(containers.DeclarativeContainer):
    settings = providers.Configuration()

    engine = providers.Singleton(_engine, settings.database_url)
    session_factory = providers.Singleton(sessionmaker, bind=engine, expire_on_commit=False)
    uow = providers.Factory(SqlUnitOfWork, session_factory=session_factory)
    read_model = providers.Singleton(SqlReadModel, engine=engine)
    database_check = providers.Singleton(_database_check, engine)

    clock = providers.Singleton(SystemClock)
    hasher = providers.Singleton(ScryptPasswordHasher)

    access = providers.Singleton(AccessUseCases, uow=uow.provider, clock=clock, hasher=hasher)
    funnels = providers.Singleton(FunnelUseCases, uow=uow.provider, clock=clock)
    contacts = providers.Singleton(ContactUseCases, uow=uow.provider, clock=clock)
    leads = providers.Singleton(LeadUseCases, uow=uow.provider, clock=clock)
    deals = providers.Singleton(DealUseCases, uow=uow.provider, clock=clock)
    activities = providers.Singleton(ActivityUseCases, uow=uow.provider, clock=clock)
