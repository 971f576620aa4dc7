"""The help desk's share of the outbox, on SQLite and PostgreSQL: its own copy of
each change beside the webhook's, one per callback attempt, none for a change the
help desk itself made; the external ticket kept on ours."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.tickets import end, start

from ivr.exceptions import ConfigError
from ivr.tickets import outbox
from ivr.tickets.model import TicketEvent, TicketUpdate, WorkStatus
from ivr.tickets.store import open_store


async def test_each_consumer_drains_its_own_copy_and_the_help_desk_is_not_echoed(
    database_url: str,
) -> None:
    store = open_store(database_url, webhook_outbox=True, helpdesk_outbox=True)
    await store.open()
    try:
        ticket_id = await store.create(start("2501"))
        await store.finish(ticket_id, end())
        attempt = {"request": "r1", "attempt": 1, "outcome": "no_answer"}
        await store.append_event(ticket_id, TicketEvent(1.0, "callback_attempt", attempt))
        await store.append_event(ticket_id, TicketEvent(2.0, "callback_dialling", {}))
        resolved = TicketUpdate(work_status=WorkStatus.RESOLVED, from_helpdesk=True)
        await store.update(ticket_id, resolved)

        webhook = await store.outbox_pending(10)
        helpdesk = await store.outbox_pending(10, outbox.HELPDESK)
        assert [m.event for m in webhook] == [outbox.CREATED, outbox.CLOSED, outbox.RESOLVED]
        assert [m.event for m in helpdesk] == [
            outbox.CREATED,
            outbox.CLOSED,
            outbox.CALLBACK_ATTEMPT,
        ]
        for message in webhook:
            await store.outbox_delivered(message.id)
        assert len(await store.outbox_pending(10, outbox.HELPDESK)) == 3  # untouched

        await store.set_external(ticket_id, "417", "https://rt.example.com/Ticket/417")
        ticket = await store.get(ticket_id)
        assert ticket is not None
        assert (ticket.external_id, ticket.external_url) == (
            "417",
            "https://rt.example.com/Ticket/417",
        )
    finally:
        await store.close()


def test_helpdesk_settings_are_checked_naming_the_key(tmp_path: Path) -> None:
    from ivr.config import load_config

    path = tmp_path / "ivr.yaml"
    path.write_text(
        "helpdesk:\n  url: https://rt.example.com/\n  queues:\n"
        "    - {intent: password, rt_queue: Accounts}\n    - {queue: helpdesk, rt_queue: IT}\n"
        "  fields: {ticket_id: IVR Ticket}\n"
    )
    helpdesk = load_config(path, env={}).helpdesk
    assert helpdesk is not None and helpdesk.url == "https://rt.example.com"
    assert helpdesk.queue_for("default", "password", "helpdesk") == "Accounts"
    assert helpdesk.queue_for("default", None, "helpdesk") == "IT"
    assert helpdesk.queue_for("default", None, None) == "General"
    assert load_config(None, env={}).helpdesk is None
    for text, message in (
        ("helpdesk: {url: rt.example.com}", "helpdesk.url has value 'rt.example.com'"),
        ("helpdesk: {kind: jira, url: https://x}", "helpdesk.kind has value 'jira'"),
        ("helpdesk: {url: https://x, queues: [{rt_queue: A}]}", r"helpdesk.queues\[0\]"),
        ("helpdesk: {url: https://x, fields: {colour: C}}", "unknown setting 'colour'"),
        ("helpdesk: {url: https://x, poll_interval_seconds: 0}", "poll_interval_seconds"),
    ):
        path.write_text(text + "\n")
        with pytest.raises(ConfigError, match=message):
            load_config(path, env={})
