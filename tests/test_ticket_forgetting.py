"""Forgetting personal data in the ticket store, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from support.tickets import BASE, end, start

from ivr.tickets.forgetting import BATCH, Forget
from ivr.tickets.model import Handling, TicketNote, TicketQuery, TicketUpdate
from ivr.tickets.store import TicketStore


async def _ticket(store: TicketStore, caller: str, at: float) -> int:
    ticket_id = await store.create(start(caller=caller, at=at, call_id=f"call-{at}"))
    finished = end(
        utterances=(("my password expired", "password_reset"), ("blue elephant", None)),
        variables={"employee_id": "E1234", "callback_number": caller},
        handling=Handling(intent="password_reset", queue="helpdesk"),
        at=at + 60,
    )
    await store.finish(ticket_id, finished)
    await store.update(ticket_id, TicketUpdate(note=TicketNote(at + 70, f"rang back {caller}")))
    return ticket_id


async def test_erasing_a_caller_leaves_no_number_words_keys_notes_or_recording(
    store: TicketStore,
) -> None:
    erased = [await _ticket(store, "13812345678", BASE + i) for i in range(3)]
    kept = await _ticket(store, "1001", BASE + 10)
    before = await store.stats(BASE - 1, BASE + 100)

    forgotten = await store.forget(Forget(caller_number="13812345678"))

    assert forgotten.tickets == 3 and not forgotten.more
    assert sorted(f.ticket_id for f in forgotten.files) == erased
    for ticket_id in erased:
        ticket = await store.get(ticket_id)
        assert ticket is not None
        text = repr(ticket)
        for personal in ("13812345678", "password expired", "elephant", "E1234", "rang back"):
            assert personal not in text
        assert ticket.keys == "" and ticket.recording_path is None and ticket.notes == ()
        assert ticket.handling.intent == "password_reset"  # the figures keep their shape
        assert [e.detail.get("intent") for e in ticket.events if e.kind == "utterance"] == [
            "password_reset",
            None,
        ]
    assert await store.search(TicketQuery(caller="13812345678")) == []
    assert await store.search(TicketQuery(text="elephant")) != []  # the other caller's words
    other = await store.get(kept)
    assert other is not None and other.recording_path and other.notes
    after = await store.stats(BASE - 1, BASE + 100)
    assert after.calls == before.calls
    again = await store.forget(Forget(caller_number="13812345678"))
    assert again.tickets == 0


async def test_retention_drops_old_recordings_and_transcripts_only(store: TicketStore) -> None:
    old = await _ticket(store, "1001", BASE)
    new = await _ticket(store, "1002", BASE + 3600)
    cutoff = BASE + 1800

    recordings = await store.forget(Forget(recordings_before=cutoff))
    transcripts = await store.forget(Forget(transcripts_before=cutoff))

    assert [f.ticket_id for f in recordings.files] == [old]
    assert transcripts.tickets == 1
    aged, fresh = await store.get(old), await store.get(new)
    assert aged is not None and fresh is not None
    assert aged.recording_path is None and aged.start.caller_number == "1001"
    assert "elephant" not in repr(aged.events) and aged.notes  # notes are the agents' own
    assert all(
        e.detail.get("text_removed") == "retention" for e in aged.events if e.kind == "utterance"
    )
    assert fresh.recording_path and "elephant" in repr(fresh.events)
    assert (await store.forget(Forget(transcripts_before=cutoff))).tickets == 0


async def test_a_large_sweep_goes_in_batches(store: TicketStore) -> None:
    for i in range(BATCH + 3):
        await store.create(start(caller=f"2{i:04d}", at=BASE + i, call_id=f"b{i}"))
    tickets = await store.search(TicketQuery(limit=BATCH + 10))
    for ticket in tickets:
        await store.finish(
            ticket.id, end(utterances=(("hello", None),), at=ticket.start.started_at + 5)
        )
    first = await store.forget(Forget(transcripts_before=BASE + 10_000))
    second = await store.forget(Forget(transcripts_before=BASE + 10_000))
    assert (first.tickets, first.more, second.tickets, second.more) == (BATCH, True, 3, False)
