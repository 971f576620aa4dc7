"""Ticket databases for the tests: SQLite in the test's folder, or a fresh database
on PostgreSQL, the machine's (127.0.0.1:5432, user postgres, trust auth) when it
answers, else a throwaway cluster the session starts on a free port; the PostgreSQL
tests never skip. ``IVR_TEST_OWN_POSTGRES=1`` takes the throwaway cluster even when
the machine has one."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from support.own_servers import OwnPostgres

DATABASES = ["sqlite", "postgresql"]
MACHINE_POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_answers() -> bool:
    """Whether something answers on the machine's PostgreSQL port, 127.0.0.1:5432."""
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def postgres_server() -> Iterator[str]:
    """The admin URL of a PostgreSQL to make databases on: the machine's, else (or with
    ``IVR_TEST_OWN_POSTGRES`` set) a cluster of our own, removed on exit."""
    if postgres_answers() and not os.environ.get("IVR_TEST_OWN_POSTGRES"):
        yield MACHINE_POSTGRES_ADMIN_URL
        return
    own = OwnPostgres()
    try:
        own.start()
        yield own.admin_url
    finally:
        own.remove()


class FreshDatabases:
    """Makes databases ``ivr_test_<random>`` on the server of ``admin_url``; drops them
    all in :meth:`drop_all`."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []

    def new(self) -> str:
        """A new, empty database's URL."""
        name = f"ivr_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        self.created.append(name)
        return f"{self.admin_url.rsplit('/', 1)[0]}/{name}"

    def drop_all(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            for name in self.created:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def database_url_for(kind: str, workdir: Path, request: pytest.FixtureRequest) -> str:
    """A fresh database of ``kind`` (one of :data:`DATABASES`): SQLite in ``workdir``,
    or a new PostgreSQL database (through the ``postgres_database`` fixture)."""
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'tickets.db'}"
    make: Callable[[], str] = request.getfixturevalue("postgres_database")
    return make()
