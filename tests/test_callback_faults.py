"""Callbacks under faults (issue 23): 50 bookings dialled by two ``ivr callbacks run``
dispatchers sharing a Redis with AOF, while dispatchers are SIGKILLed five times just
after a customer's phone was rung, Redis is stalled (SIGSTOP) twice for 10 s, and a
dispatcher is stalled past its lease and resumed.

Agents and customers are SIPp phones that log every message; customers answer and
talk 4 s. The rules held: every booking ends done or failed; no customer is called
more than once plus the redial allowance; a booking whose call connected is never
dialled again; every call placed is on the booking's ticket (written ahead, before
its INVITE), those of dead dispatchers marked as such, and every attempt's outcome is
on its ticket once, also when its dispatcher was killed after settling it in Redis and
before the ticket write (another writes it from the journal's outbox).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from support.callbacks import bookings, counts, seed, start_dispatcher, write_config
from support.harness import free_port, wait_until
from support.sipp import answering_phone, new_calls

from ivr.tickets.model import TicketEvent, TicketStart
from ivr.tickets.store import open_store

BOOKINGS = 50
AGENTS = [f"a{n}" for n in range(1, 6)]
LEASE_SECONDS = 20.0  # longer than a Redis stall: a stall alone never takes a lease over
REDIAL_AFTER_UNKNOWN = 1
MAX_ATTEMPTS = 3
TALK_MILLISECONDS = 4000
REDIS_STALL_SECONDS = 10.0
# When, after a customer's INVITE, a kill lands: ringing, just answered, talking.
KILL_DELAYS = (0.1, 0.6, 2.0, 0.3, 1.2)


async def open_tickets(database_url: str, numbers: list[str]) -> list[int]:
    """One ticket per booking call, as the calls that booked them left them."""
    store = open_store(database_url)
    await store.open()
    try:
        return [
            await store.create(TicketStart(f"booking-{n}", "w1", n, "4357", "p", "v1", time.time()))
            for n in numbers
        ]
    finally:
        await store.close()


def attempts_on_tickets(url: str, prefix: str, database_url: str, ticket_ids: list[int]) -> bool:
    """Whether every booking's attempts are on its ticket (``callback_attempt``)."""
    events = asyncio.run(ticket_events(database_url, ticket_ids))
    return all(
        len(recorded_attempts(events[b.ticket_id])) >= len(b.history)
        for b in asyncio.run(bookings(url, prefix))
    )


async def ticket_events(database_url: str, ticket_ids: list[int]) -> dict[int, list[TicketEvent]]:
    store = open_store(database_url)
    await store.open()
    try:
        found = {}
        for ticket_id in ticket_ids:
            ticket = await store.get(ticket_id)
            assert ticket is not None
            found[ticket_id] = list(ticket.events)
        return found
    finally:
        await store.close()


def recorded_attempts(events: list[TicketEvent]) -> list[tuple[object, object]]:
    """The ``callback_attempt`` records on a ticket as (attempt, state). A dispatcher
    that stalled past its lease adds its own ``lease_lost`` record of the attempt its
    successor settled; those are not counted."""
    return [
        (e.detail.get("attempt"), e.detail.get("state"))
        for e in events
        if e.kind == "callback_attempt" and e.detail.get("state") != "lease_lost"
    ]


class Dispatchers:
    """The running dispatchers, each started under a new name."""

    def __init__(self, workdir: Path, config: Path, env: dict[str, str]) -> None:
        self._workdir, self._config, self._env = workdir, config, env
        self.running: list[subprocess.Popen[bytes]] = []
        self.started = 0

    def start(self) -> None:
        self.started += 1
        name = f"d{self.started}"
        self.running.append(start_dispatcher(self._workdir, self._config, self._env, name))

    def kill_oldest(self) -> None:
        process = self.running.pop(0)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        self.start()

    def stop(self) -> None:
        for process in self.running:
            os.kill(process.pid, signal.SIGCONT)
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_for_customer_invite(log: Path, after: int, settled: Callable[[], bool]) -> bool:
    """Until a customer is rung after ``after`` calls so far; False when every booking
    settled first (no call left to hit)."""
    return bool(
        wait_until(
            lambda: sum(new_calls(log).values()) > after or settled(),
            120,
            "a customer rung, or every booking settled",
        )
        and not settled()
    )


def test_no_booking_is_called_past_its_allowance_and_every_call_is_on_its_ticket(
    stallable_redis: tuple[str, int], tmp_path: Path
) -> None:
    url, redis_pid = stallable_redis
    prefix = "ivrtest:faults:"
    agents_port, customers_port = free_port(), free_port()
    numbers = [f"8{index:03d}" for index in range(BOOKINGS)]
    database_url = f"sqlite:///{tmp_path / 'tickets.db'}"
    ticket_ids = asyncio.run(open_tickets(database_url, numbers))
    asyncio.run(seed(url, prefix, AGENTS, agents_port, list(zip(numbers, ticket_ids, strict=True))))
    config = write_config(
        tmp_path / "ivr.yaml",
        AGENTS,
        agents_port,
        customers_port,
        lease_seconds=LEASE_SECONDS,
        max_attempts=MAX_ATTEMPTS,
        redial_after_unknown=REDIAL_AFTER_UNKNOWN,
    )
    env = {
        "REDIS_URL": url,
        "IVR_REDIS_KEY_PREFIX": prefix,
        "DATABASE_URL": database_url,
        "IVR_CACHE_DIR": str(tmp_path / "cache"),
    }
    customers_log = tmp_path / "customers" / "messages.log"
    agent_phones = answering_phone("uas_wait_bye.xml", agents_port, tmp_path / "agents")
    customer_phones = answering_phone(
        "uas_answer_talk.xml",
        customers_port,
        tmp_path / "customers",
        ("-d", str(TALK_MILLISECONDS)),
    )
    dispatchers = Dispatchers(tmp_path, config, env)

    def settled() -> bool:
        now = asyncio.run(counts(url, prefix))
        return now["pending"] == now["dialling"] == 0

    def next_call() -> bool:
        return wait_for_customer_invite(
            customers_log, sum(new_calls(customers_log).values()), settled
        )

    faults: list[str] = []
    started = time.monotonic()
    try:
        dispatchers.start()
        dispatchers.start()
        kills = iter(KILL_DELAYS)
        for fault in ("kill", "redis", "kill", "stall", "kill", "redis", "kill", "kill"):
            if not next_call():
                break
            if fault == "kill":
                time.sleep(next(kills))  # lands while that call rings, answers or talks
                dispatchers.kill_oldest()
            elif fault == "redis":
                os.kill(redis_pid, signal.SIGSTOP)
                time.sleep(REDIS_STALL_SECONDS)
                os.kill(redis_pid, signal.SIGCONT)
            else:
                stalled = dispatchers.running[-1]
                os.kill(stalled.pid, signal.SIGSTOP)
                time.sleep(LEASE_SECONDS + 5)  # its lease runs out and is taken over
                os.kill(stalled.pid, signal.SIGCONT)
            faults.append(fault)
        wait_until(settled, 300, "every booking done or failed")
        elapsed = time.monotonic() - started
        # A booking is settled in Redis first, then its attempt goes on the ticket; one
        # whose dispatcher died in between is written from the outbox after a lease's time.
        deadline = time.monotonic() + LEASE_SECONDS + 30
        while not attempts_on_tickets(url, prefix, database_url, ticket_ids):
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        dispatchers.stop()
        for phone in (agent_phones, customer_phones):
            phone.terminate()
            phone.wait(10)

    assert faults.count("kill") == 5 and faults.count("redis") == 2 and "stall" in faults, (
        f"the bookings ran out before the faults did: {faults}"
    )
    final = asyncio.run(counts(url, prefix))
    assert final["done"] + final["failed"] == BOOKINGS, final
    invites = new_calls(customers_log)
    events = asyncio.run(ticket_events(database_url, ticket_ids))
    lost = redialled = 0
    unrecorded: list[str] = []
    for booking in asyncio.run(bookings(url, prefix)):
        outcomes = [attempt["outcome"] for attempt in booking.history]
        calls = invites[booking.number]
        about = f"{booking.number}: {calls} calls, attempts {json.dumps(booking.history)}"
        assert calls <= 1 + REDIAL_AFTER_UNKNOWN, about
        assert calls <= len(outcomes), f"a call placed but not counted: {about}"
        assert outcomes.count("connected") <= 1, about
        if "connected" in outcomes:
            assert outcomes[-1] == "connected", f"dialled again after connecting: {about}"
        assert booking.state == ("done" if outcomes[-1] == "connected" else "failed"), about
        kinds = [event.kind for event in events[booking.ticket_id]]
        assert kinds.count("callback_dialling") >= calls, f"a call not on the ticket: {about}"
        recorded = recorded_attempts(events[booking.ticket_id])
        if sorted(attempt for attempt, _ in recorded) != list(range(1, len(outcomes) + 1)):
            unrecorded.append(f"{about}, on the ticket: {recorded}")
        lost += sum(1 for attempt in booking.history if attempt.get("lost_dispatcher"))
        redialled += max(0, calls - 1)
    assert lost >= 1, "no fault hit a call in flight"
    assert not unrecorded, f"attempts not on their tickets once: {unrecorded}"
    from_outbox = sum(
        1
        for ticket in events.values()
        for e in ticket
        if e.kind == "callback_attempt" and "journaled_by" in e.detail
    )
    print(
        f"\ncallbacks under faults: {BOOKINGS} bookings, {final['done']} done, "
        f"{final['failed']} failed; {sum(invites.values())} customer calls, "
        f"{redialled} redials; {lost} calls settled after their dispatcher was lost; "
        f"{from_outbox} attempts written on their ticket by another dispatcher; "
        f"most calls to one number {max(invites.values())}; {elapsed:.0f} s"
    )
