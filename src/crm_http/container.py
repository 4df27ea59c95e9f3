"""The composition root: which adapter serves which port. Built by `create_app`, never at import."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from dependency_injector import containers, providers
from sqlalchemy import Engine, text

from crm_adapters.jobs.broker import DramatiqWaker, broker_check
from crm_adapters.jobs.inline import InlineWaker
from crm_adapters.sql.board import SqlBoard
from crm_adapters.sql.engine import create_database_engine
from crm_adapters.sql.jobs import SqlJobStore
from crm_adapters.sql.pushes import SqlPushSource
from crm_adapters.sql.read_model import SqlReadModel
from crm_adapters.sql.reads import ReadConnections, SqlCredentials
from crm_adapters.sql.unit_of_work import unit_of_work_factory
from crm_adapters.system import FernetSecretBox, ScryptPasswordHasher, SystemClock
from crm_adapters.wazzup import WazzupGateway, read_delivery
from crm_core.jobs import Backoff
from crm_core.services.activities import ActivityUseCases
from crm_core.services.contacts import ContactUseCases
from crm_core.services.funnels import FunnelUseCases
from crm_core.services.inbound import PROCESS_DELIVERY, InboundUseCases
from crm_core.services.jobs import JobRunner, core_handlers
from crm_core.services.messaging_accounts import PUSH, AccountUseCases, PushToProvider
from crm_core.services.pipeline import DealUseCases, LeadUseCases
from crm_core.services.sending import SETTLE_SEND, SendingUseCases, SettleSend
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


def _no_waking(_: list[object]) -> None:
    """`db` mode: workers poll the table, nobody needs waking."""


def _inline_waker(container: Any) -> InlineWaker:
    return InlineWaker(lambda: container.job_runner())


def _broker_check(url: str | None) -> Callable[[], bool] | None:
    return broker_check(url) if url else None


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def _handlers(
    store: SqlJobStore,
    clock: SystemClock,
    inbound: InboundUseCases,
    push: PushToProvider,
    settle: SettleSend,
) -> dict[str, Any]:
    """Every kind of job the workers run: the core's own and the messaging ones."""
    return {
        **core_handlers(store, clock),
        PROCESS_DELIVERY: inbound.process_job,
        PUSH: push,
        SETTLE_SEND: settle,
    }


def _check_of(accounts: AccountUseCases) -> Callable[..., object]:
    return accounts.check


def _process_stored(inbound: InboundUseCases) -> Callable[..., int]:
    return inbound.process_stored


class Container(containers.DeclarativeContainer):
    __self__ = providers.Self()
    settings = providers.Configuration()

    engine = providers.Singleton(create_database_engine, settings.database_url)
    # Who hears of the jobs each commit enqueued (CRM_JOBS): the inline runner, nobody (the
    # workers poll), or the broker that wakes the workers.
    waker = providers.Selector(
        settings.jobs,
        inline=providers.Singleton(_inline_waker, __self__),
        db=providers.Object(_no_waking),
        dramatiq=providers.Singleton(DramatiqWaker, settings.broker_url),
    )
    # Reads share one autocommit connection per request (see crm_adapters.sql.reads).
    reads = providers.Singleton(ReadConnections, engine)
    # The use cases take a callable that opens a new unit of work per call; a
    # create's write reads back the detail its answer needs into the request's reads' scope.
    uow = providers.Singleton(unit_of_work_factory, engine, wake=waker, reads=reads)
    read_model = providers.Singleton(
        SqlReadModel, engine=engine, public_url=settings.public_url, reads=reads
    )
    board = providers.Singleton(SqlBoard, engine, reads)
    database_check = providers.Singleton(_database_check, engine)

    clock = providers.Singleton(SystemClock)
    hasher = providers.Singleton(ScryptPasswordHasher)

    job_store = providers.Singleton(SqlJobStore, engine)

    # Messaging: the provider's gateway (one HTTP client), the keys' box, and the use cases.
    secrets = providers.Singleton(FernetSecretBox, settings.encryption_key)
    gateway = providers.Singleton(WazzupGateway)
    push_source = providers.Singleton(SqlPushSource, engine)
    inbound = providers.Singleton(InboundUseCases, uow=uow, clock=clock, read=read_delivery)
    messaging_accounts = providers.Singleton(
        AccountUseCases,
        uow=uow,
        clock=clock,
        gateway=gateway,
        secrets=secrets,
        pushes=push_source,
        public_url=settings.public_url,
        process_stored=providers.Factory(_process_stored, inbound),
    )
    sending = providers.Singleton(
        SendingUseCases,
        uow=uow,
        clock=clock,
        gateway=gateway,
        secrets=secrets,
        check=providers.Factory(_check_of, messaging_accounts),
    )

    # The kinds of job the workers run.
    job_handlers = providers.Singleton(
        _handlers,
        job_store,
        clock,
        inbound,
        providers.Singleton(PushToProvider, gateway, secrets, clock, providers.Object(Backoff())),
        providers.Singleton(SettleSend, clock),
    )
    job_runner = providers.Singleton(
        JobRunner,
        uow=uow,
        store=job_store,
        handlers=job_handlers,
        clock=clock,
        lease=providers.Factory(_seconds, settings.job_lease_seconds),
    )
    broker_check = providers.Singleton(_broker_check, settings.broker_url)

    access = providers.Singleton(
        AccessUseCases,
        uow=uow,
        clock=clock,
        hasher=hasher,
        default_region=settings.default_region,
        credentials=providers.Singleton(SqlCredentials, reads),
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
            "jobs": settings.jobs,
            "broker_url": settings.broker_url,
            "job_lease_seconds": settings.job_lease_seconds,
            "encryption_key": settings.encryption_key(),
        }
    )
