"""The ticket store on both databases: the same tests, SQLite and PostgreSQL.

PostgreSQL runs in a fresh database per test (dropped at the end of the
session), on the machine's server or a throwaway cluster (support.databases).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from support.tickets import BASE, database_at_version, end, start

from ivr.exceptions import TicketStoreError
from ivr.tickets import outbox
from ivr.tickets.model import (
    Disposition,
    Handling,
    TicketNote,
    TicketQuery,
    TicketUpdate,
    WorkStatus,
)
from ivr.tickets.store import TicketStore, open_store


async def test_a_finished_ticket_reads_back_whole(store: TicketStore) -> None:
    ticket_id = await store.create(start("1001"))
    handling = Handling("password_reset", "it", 12.5, "a7", 2, 95.25, "bridge")
    await store.finish(
        ticket_id,
        end(
            utterances=(("重置密码", "password_reset"),),
            variables={"employee_id": "E100", "vip": "yes"},
            handling=handling,
            satisfaction=4,
        ),
    )
    ticket = await store.get(ticket_id)
    assert ticket is not None
    assert ticket.start == start("1001")
    assert ticket.disposition is Disposition.COMPLETED
    assert ticket.nodes == ("welcome", "main_menu") and ticket.keys == "1"
    assert ticket.variables == {"employee_id": "E100", "vip": "yes"}
    assert ticket.handling == handling and ticket.satisfaction == 4
    assert [e.kind for e in ticket.events] == ["node", "utterance"]
    assert ticket.events[1].detail["text"] == "重置密码"
    assert ticket.work_status is WorkStatus.OPEN and ticket.assignee is None
    assert await store.get(ticket_id + 1000) is None


async def test_search_filters_by_every_field_and_pages(store: TicketStore) -> None:
    ids = {}
    specs = {
        "a": ("2001", {"employee_id": "E1"}, Handling("vpn", "network", 5.0, "agent1")),
        "b": ("2001", {"employee_id": "E2"}, Handling("password_reset", "it", None, None)),
        "c": ("2002", {}, Handling("vpn", "it", 30.0, "agent2", transfer_method="refer")),
    }
    for offset, (name, (caller, variables, handling)) in enumerate(specs.items()):
        ids[name] = await store.create(start(caller, BASE + offset * 100, call_id=name))
        await store.finish(
            ids[name],
            end(
                variables=variables,
                handling=handling,
                utterances=(("My VPN is broken 100%", "vpn"),) if name == "c" else (),
                disposition=Disposition.ABANDONED if name == "b" else Disposition.COMPLETED,
                at=BASE + offset * 100 + 60,
            ),
        )

    async def found(**filters: object) -> list[int]:
        query = TicketQuery(**filters)  # type: ignore[arg-type]
        tickets = await store.search(query)
        assert await store.count(query) == len(tickets) or query.limit < len(ids)
        return [t.id for t in tickets]

    assert await found() == [ids["c"], ids["b"], ids["a"]]  # newest first
    assert await found(caller="2001") == [ids["b"], ids["a"]]
    assert await found(employee="E2") == [ids["b"]]
    assert await found(intent="vpn") == [ids["c"], ids["a"]]
    assert await found(disposition=Disposition.ABANDONED) == [ids["b"]]
    assert await found(queue="it") == [ids["c"], ids["b"]]
    assert await found(agent="agent1") == [ids["a"]]
    assert await found(since=BASE + 100) == [ids["c"], ids["b"]]
    assert await found(until=BASE + 100) == [ids["a"]]
    assert await found(since=BASE + 50, until=BASE + 150) == [ids["b"]]
    assert await found(text="vpn IS") == [ids["c"]]
    assert await found(text="100%") == [ids["c"]]
    assert await found(text="0%x") == []  # % is taken literally, not as a wildcard
    assert await found(caller="2001", intent="vpn") == [ids["a"]]
    assert await found(limit=1, offset=1) == [ids["b"]]
    assert await store.count(TicketQuery(caller="2001", limit=1)) == 2


async def test_transcript_search_finds_chinese(store: TicketStore) -> None:
    ticket_id = await store.create(start("2101"))
    await store.finish(ticket_id, end(utterances=(("我的电脑打不开邮箱", None),)))
    assert [t.id for t in await store.search(TicketQuery(text="打不开"))] == [ticket_id]


async def test_agents_update_status_assignee_and_notes(store: TicketStore) -> None:
    ticket_id = await store.create(start("2201"))
    await store.finish(ticket_id, end())
    updated = await store.update(
        ticket_id,
        TicketUpdate(
            work_status=WorkStatus.IN_PROGRESS,
            assignee="alice",
            note=TicketNote(BASE + 100, "called back, reset the token", "alice"),
        ),
    )
    assert updated is not None
    assert updated.work_status is WorkStatus.IN_PROGRESS and updated.assignee == "alice"
    updated = await store.update(
        ticket_id, TicketUpdate(unassign=True, note=TicketNote(BASE + 200, "second"))
    )
    assert updated is not None and updated.assignee is None
    assert [(n.text, n.author) for n in updated.notes] == [
        ("called back, reset the token", "alice"),
        ("second", None),
    ]
    assert [t.id for t in await store.search(TicketQuery(work_status=WorkStatus.IN_PROGRESS))] == [
        ticket_id
    ]
    # A call's closing write does not undo an agent's work on the same ticket.
    await store.finish(ticket_id, end())
    again = await store.get(ticket_id)
    assert again is not None and again.work_status is WorkStatus.IN_PROGRESS
    assert await store.update(ticket_id + 1000, TicketUpdate(assignee="bob")) is None


async def test_outbox_holds_each_change_in_order_until_delivered(store: TicketStore) -> None:
    first = await store.create(start("2301", call_id="one"))
    second = await store.create(start("2302", call_id="two"))
    await store.finish(first, end())
    await store.update(first, TicketUpdate(work_status=WorkStatus.RESOLVED))
    await store.update(first, TicketUpdate(work_status=WorkStatus.RESOLVED))  # no second post
    pending = await store.outbox_pending(10)
    assert [(m.ticket_id, m.event) for m in pending] == [
        (first, outbox.CREATED),
        (second, outbox.CREATED),
        (first, outbox.CLOSED),
        (first, outbox.RESOLVED),
    ]
    closed = json.loads(pending[2].payload)
    assert closed["event"] == "ticket.closed"
    assert closed["ticket"]["id"] == first and closed["ticket"]["disposition"] == "completed"

    await store.outbox_delivered(pending[0].id)
    await store.outbox_failed(pending[1].id, "HTTP 500", give_up=False)
    await store.outbox_failed(pending[2].id, "HTTP 400", give_up=True)
    left = await store.outbox_pending(10)
    assert [m.id for m in left] == [pending[1].id, pending[3].id]
    assert left[0].attempts == 1


async def test_outbox_stays_empty_without_a_webhook(database_url: str) -> None:
    plain = open_store(database_url)
    await plain.open()
    try:
        ticket_id = await plain.create(start("2401"))
        await plain.finish(ticket_id, end())
        assert await plain.outbox_pending(10) == []
    finally:
        await plain.close()


async def test_concurrent_calls_get_distinct_tickets(store: TicketStore) -> None:
    ids = await asyncio.gather(*(store.create(start("2501", call_id=str(i))) for i in range(40)))
    assert len(set(ids)) == 40
    await asyncio.gather(*(store.finish(i, end()) for i in ids))
    assert await store.count(TicketQuery(caller="2501", disposition=Disposition.COMPLETED)) == 40


async def test_a_version_3_database_is_migrated_and_backfilled(database_url: str) -> None:
    """A database written before work status and search columns existed."""
    event = json.dumps({"text": "打印机卡纸", "intent": None})
    rows = [
        "INSERT INTO tickets (call_id, worker_id, caller_number, called_number, plan_name, "
        "plan_version, started_at, disposition, variables) VALUES "
        "('old', 'w', '2601', '4357', 'default', 'v0', 1600000000.5, 'completed', "
        '\'{"employee_id": "E9"}\')',
        f"INSERT INTO ticket_events VALUES (1, 0, 1600000001.0, 'utterance', '{event}')",
        "INSERT INTO ticket_events VALUES (1, 1, 1600000002.0, 'callback_requested', '{}')",
    ]
    database_at_version(database_url, 3, rows)

    migrated = open_store(database_url)
    await migrated.open()
    try:
        assert [t.start.call_id for t in await migrated.search(TicketQuery(employee="E9"))] == [
            "old"
        ]
        assert [t.start.call_id for t in await migrated.search(TicketQuery(text="卡纸"))] == ["old"]
        ticket = await migrated.get(1)
        assert ticket is not None and ticket.work_status is WorkStatus.OPEN
        assert ticket.start.started_at == 1600000000.5  # a double on both databases
        figures = await migrated.stats(1600000000, 1600000001)
        assert (figures.calls, figures.callbacks_requested) == (1, 1)
        assert figures.unrecognised_utterances == 1
        assert [g.text for g in figures.unrecognised_groups] == ["打印机卡纸"]
        new_id = await migrated.create(start("2602"))
        assert new_id == 2
    finally:
        await migrated.close()
    reopened = open_store(database_url)  # a second open finds nothing to migrate
    await reopened.open()
    await reopened.close()


async def test_unsupported_or_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TicketStoreError, match="scheme 'mysql' is not supported"):
        open_store("mysql://x/y")
    unreachable = open_store("postgresql://postgres:s3cret@127.0.0.1:9/tickets")
    with pytest.raises(TicketStoreError) as caught:
        await unreachable.open()
    assert "127.0.0.1:9/tickets" in str(caught.value) and "s3cret" not in str(caught.value)
