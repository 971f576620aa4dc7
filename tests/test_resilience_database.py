"""The ticket database going away and coming back: calls are answered meanwhile, every
ticket write is kept in the local spool and reaches the database when it returns (also
after a crash of the service), reads get a clear 503 and health says degraded; a
service started while it is away takes calls all the same."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from pathlib import Path

import pytest
from support.harness import wait_until
from support.own_servers import OwnPostgres
from support.service import RunningService, start_service
from support.sipp import run_sipp

from ivr.exceptions import TicketStoreError, TicketStoreUnreachable
from ivr.tickets.postgres_store import PostgresTicketStore

OUTAGE_CALLS = 3


def spooled_lines(spool: Path) -> list[dict[str, object]]:
    return [json.loads(line) for f in spool.glob("*.jsonl") for line in f.read_text().splitlines()]


def assert_outage_seen(service: RunningService, spool: Path, reads_fail: bool = True) -> None:
    if reads_fail:
        status, body = service.api("/api/tickets")
        assert status == 503, body
        assert "ticket database unreachable" in body["error"], body
    _, health = service.api("/api/health")
    assert health["status"] == "degraded", health
    assert health["ticket_database"] != "ok", health
    ops = [line["op"] for line in spooled_lines(spool)]
    assert ops.count("create") >= OUTAGE_CALLS - 1 and ops.count("finish") == OUTAGE_CALLS, ops


def assert_tickets_arrived(service: RunningService, caller: str, count: int) -> None:
    wait_until(lambda: service.api("/api/health")[1]["ticket_database"] == "ok", 30, "replay")
    tickets = service.tickets_of(caller, count)
    assert len(tickets) == count, tickets  # each once, no doubles
    assert len({t["call_id"] for t in tickets}) == count
    for ticket in tickets:
        assert ticket["disposition"] == "completed", ticket
        _, detail = service.api(f"/api/tickets/{ticket['id']}")
        kinds = [e["kind"] for e in detail["events"]]
        assert "answered" in kinds and kinds.count("answered") == 1, kinds


def test_postgres_away_calls_answered_writes_spooled_and_replayed_once_it_returns(
    tmp_path: Path,
) -> None:
    postgres = OwnPostgres()
    postgres.start()
    spool = tmp_path / "spool"
    try:
        url = postgres.new_database(f"ivr_{uuid.uuid4().hex[:8]}")
        # A server that answers and refuses us (no such database) is a setup error;
        # one that does not answer is an outage (the service starts and spools).
        with pytest.raises(TicketStoreError) as refused:
            asyncio.run(PostgresTicketStore(url + "_missing").open())
        assert not isinstance(refused.value, TicketStoreUnreachable)
        assert "does not exist" in str(refused.value)
        env = {"DATABASE_URL": url, "IVR_TICKET_SPOOL_DIR": str(spool)}
        service = start_service(tmp_path / "service", env=env)
        try:
            postgres.stop()
            with pytest.raises(TicketStoreUnreachable):
                asyncio.run(PostgresTicketStore(url).open())
            during = run_sipp(
                "menu_key1_rfc2833.xml",
                service.sip_uri_host,
                "1702",
                calls=OUTAGE_CALLS,
                rate=1,
                workdir=tmp_path / "during",
            )
            assert during.returncode == 0, during.errors  # every call answered and walked
            assert_outage_seen(service, spool)

            postgres.start()
            assert_tickets_arrived(service, "1702", OUTAGE_CALLS)
            assert not list(spool.glob("*.jsonl"))  # the journal is emptied once replayed

            # Away again, and the service dies with writes still spooled: its next
            # run replays them.
            postgres.stop()
            last = run_sipp(
                "menu_key1_rfc2833.xml", service.sip_uri_host, "1703", workdir=tmp_path / "last"
            )
            assert last.returncode == 0, last.errors
            wait_until(lambda: spooled_lines(spool), 10, "the last call's spooled writes")
            service.process.kill()
            service.process.wait()
            # It starts again while the database is still away, and takes calls.
            service = start_service(tmp_path / "service", env=env)
            restarted = run_sipp(
                "menu_key1_rfc2833.xml", service.sip_uri_host, "1704", workdir=tmp_path / "again"
            )
            assert restarted.returncode == 0, restarted.errors
            assert service.api("/api/health")[1]["ticket_database"] != "ok"
            assert service.api("/api/tickets")[0] == 503
            postgres.start()
            assert_tickets_arrived(service, "1703", 1)
            assert_tickets_arrived(service, "1704", 1)
        finally:
            service.stop()
    finally:
        postgres.remove()


def test_sqlite_locked_by_another_process_writes_wait_in_the_spool(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    database = tmp_path / "tickets.db"
    env = {"DATABASE_URL": f"sqlite:///{database}", "IVR_TICKET_SPOOL_DIR": str(spool)}
    service = start_service(tmp_path / "service", env=env)
    locker = sqlite3.connect(database, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")  # nobody else reads or writes until COMMIT
        during = run_sipp(
            "menu_key1_rfc2833.xml",
            service.sip_uri_host,
            "1802",
            calls=OUTAGE_CALLS,
            rate=1,
            workdir=tmp_path / "during",
        )
        assert during.returncode == 0, during.errors
        assert_outage_seen(service, spool, reads_fail=False)  # WAL: readers go on
        locker.execute("COMMIT")
        assert_tickets_arrived(service, "1802", OUTAGE_CALLS)
    finally:
        locker.close()
        assert service.stop() == 0
