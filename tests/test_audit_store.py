"""The audit log in both ticket databases: rows added, filtered, newest first."""

from __future__ import annotations

from ivr.tickets.audit import FAILED, OK, REFUSED, AuditEntry, AuditQuery
from ivr.tickets.store import TicketStore

BASE = 1_700_000_000.0


def entry(at: float, actor: str, action: str, outcome: str = OK, **detail: object) -> AuditEntry:
    return AuditEntry(at, actor, "operator", action, "t1", outcome, dict(detail))


async def test_audit_rows_come_back_newest_first_and_filtered(store: TicketStore) -> None:
    await store.add_audit(entry(BASE, "ops-1", "callback.cancel", reason="caller fixed it"))
    await store.add_audit(entry(BASE + 1, "-", "dialplan.reload", REFUSED))
    await store.add_audit(entry(BASE + 2, "ops-1", "ticket.update", FAILED, status=404))

    rows = await store.audit_entries(AuditQuery())
    assert [r.action for r in rows] == ["ticket.update", "dialplan.reload", "callback.cancel"]
    assert rows[2].detail == {"reason": "caller fixed it"} and rows[2].at == BASE
    assert rows[0].id is not None and rows[0].id > rows[2].id  # type: ignore[operator]

    by_actor = await store.audit_entries(AuditQuery(actor="ops-1"))
    assert [r.action for r in by_actor] == ["ticket.update", "callback.cancel"]
    refused = await store.audit_entries(AuditQuery(outcome=REFUSED))
    assert [r.actor for r in refused] == ["-"]
    window = await store.audit_entries(AuditQuery(since=BASE + 1, until=BASE + 2))
    assert [r.action for r in window] == ["dialplan.reload"]
    page = await store.audit_entries(AuditQuery(limit=1, offset=1))
    assert [r.action for r in page] == ["dialplan.reload"]


async def test_a_huge_detail_is_kept_short(store: TicketStore) -> None:
    await store.add_audit(entry(BASE, "ops-1", "ticket.update", note="x" * 100_000))
    [row] = await store.audit_entries(AuditQuery())
    assert row.detail["truncated"] is True and len(row.detail["summary"]) <= 2000
