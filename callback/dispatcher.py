"""The dispatcher: dials callbacks back when an agent is free for them, exactly once.

It runs inside the service or alone (``ivr callbacks run``); several may run on
several nodes. Each round it gives back the requests of dispatchers that died
(expired leases), then, queue by queue and in line order (place less the seconds of
the value rule, ``callback.value``: most valuable first), leases a due request
and asks for an agent for it. The agent is granted by the same rule as for live
callers (``Agents.claim``): only when no live caller ahead of the request is
still waiting for one, so callbacks fill slack and never jump the line. The
service does the dialling (``Connector``); the dispatcher keeps the lease alive
meanwhile and records the attempt, then retries with backoff inside the
calling hours, up to ``max_attempts``.

Each call to a customer is written ahead (``callback.ledger``) and its outcome is
recorded before any clean-up, retried until Redis answers: a Redis stall delays the
record, it never turns a connected call into a failed one. A dispatcher that dies
mid-call leaves its call in flight to be settled from the write ahead by whichever
dispatcher sees the lease run out: a connected call is done; an unknown outcome (the
customer may have been cut off) is redialled at most ``redial_after_unknown`` times,
within ``max_attempts``. So a booking is never dialled more than ``max_attempts``
times, and every call placed for it is on its ticket. An outcome settled in Redis waits
in an outbox until its ticket has it (``callback.journal_outbox``), so a dispatcher
killed between the two does not lose it.

A number on a call with the service (``Lines``: the call that booked the
callback, or another) is never dialled: its request waits, untried, its turn
held (it keeps its place, and nobody behind it waits for it), and is due again
the moment that call ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from redis.exceptions import RedisError

from callback.dispatch_settings import DispatchSettings
from callback.ledger import AttemptLedger, until_redis_answers
from callback.requests import CallbackRequest, CallbackRequests, Lease, Settled

log = logging.getLogger(__name__)

REACHED = "connected"
NUMBER_IN_CALL = "number_in_call"
NOT_DIALLED = "not_dialled"  # the write ahead was refused: lease lost, or Redis away
# Outcomes that are no attempt to reach the customer: the request goes back untried.
NOT_THE_CUSTOMER = ("agent_no_answer", NUMBER_IN_CALL, NOT_DIALLED)


class Agents(Protocol):
    """Agent state, read and reserved through the service."""

    async def claim(self, queue: str, entry: str) -> str | None:
        """Reserve the longest-idle free agent for the line entry, if its place allows."""

    async def release(self, agent_id: str) -> None:
        """Give back a reserved agent that was not used."""


class Lines(Protocol):
    """Which numbers are on a call with the service right now (every worker's calls)."""

    async def in_call(self, numbers: Collection[str]) -> set[str]:
        """Those of ``numbers`` with a live call. May raise RedisError or OSError."""


@dataclass(frozen=True)
class AttemptEvent:
    """One step of an attempt (a leg rung, answered, bridged, ended), for its record."""

    at: float  # Unix seconds
    kind: str
    detail: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Attempt:
    # connected, no_answer, busy, no_key, refused, failed, agent_no_answer, number_in_call
    outcome: str
    detail: str = ""
    agent_id: str | None = None
    recording: str | None = None  # the customer leg's recording, when one was made
    events: tuple[AttemptEvent, ...] = ()
    call_id: str = ""  # of the call to the customer, when one was placed


class CallLedger(Protocol):
    """Where the connector writes the customer's call as it goes (``AttemptLedger``)."""

    async def dialling(self) -> bool:
        """Write the call ahead; False: do not dial."""

    def answered(self, call_id: str) -> None: ...

    def connected(self, call_id: str) -> None: ...


class Connector(Protocol):
    """Places one callback call (the service's telephony)."""

    async def call_back(
        self, request: CallbackRequest, agent_id: str, mode: str, ledger: CallLedger
    ) -> Attempt:
        """Connect the customer to the reserved agent; never raises."""


class Wakeup(Protocol):
    def token(self) -> int: ...

    async def wait(self, timeout: float, since: int | None = None) -> None: ...


class AttemptJournal(Protocol):
    """Where each attempt is written for people to read (the caller's original ticket)."""

    async def attempt(
        self,
        request: CallbackRequest,
        record: dict[str, object],
        events: tuple[AttemptEvent, ...] = (),
    ) -> bool:
        """Write the attempt (once: a record the ticket has is skipped); False when the
        ticket store could not take it."""

    async def dialling(self, request: CallbackRequest, record: Mapping[str, object]) -> None:
        """A call to the customer is about to be placed (before its INVITE leaves)."""


class Dispatcher:
    def __init__(
        self,
        requests: CallbackRequests,
        agents: Agents,
        connector: Connector,
        settings: DispatchSettings,
        wakeup: Wakeup | None = None,
        name: str = "",
        journal: AttemptJournal | None = None,
        lines: Lines | None = None,
    ) -> None:
        self._journal = journal
        self._lines = lines
        self._requests = requests
        self._agents = agents
        self._connector = connector
        self._settings = settings
        self._wakeup = wakeup
        self.name = name or f"dispatcher-{uuid.uuid4().hex[:8]}"
        self._dialling: dict[str, asyncio.Task[None]] = {}

    @property
    def dialling(self) -> int:
        return len(self._dialling)

    async def run(self) -> None:
        """Dispatch until cancelled; a Redis outage pauses it, then it resumes."""
        try:
            while True:
                token = self._wakeup.token() if self._wakeup is not None else 0
                try:
                    await self.dispatch_once()
                except (RedisError, OSError) as exc:
                    log.warning("callback dispatch paused: %s", exc)
                if self._wakeup is not None:
                    await self._wakeup.wait(self._settings.poll_seconds, since=token)
                else:
                    await asyncio.sleep(self._settings.poll_seconds)
        finally:
            tasks = list(self._dialling.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def dispatch_once(self) -> int:
        """One round; returns how many callbacks it started dialling."""
        for settled in await self._requests.reap_expired_leases(
            self._settings.redial_after_unknown,
            self._settings.max_attempts,
            self._settings.value.per_failed_attempt_seconds,
            journal=self._journal is not None,
        ):
            await self._settled(settled)
        if self._journal is not None:
            await self._requests.unjournaled.drain(
                self.name, self._settings.lease_seconds, self._requests.get, self._journal.attempt
            )
        now = time.time()
        if self._settings.hours.next_allowed(now) > now:
            return 0  # outside calling hours
        started = 0
        for queue in await self._requests.queues():
            due = await self._requests.due(queue, self._settings.max_dialling)
            in_call = await self._in_call(queue, due)
            for request in due:
                if len(self._dialling) >= self._settings.max_dialling:
                    return started
                if request.number in in_call:
                    continue  # due again the moment that call ends
                # The agent first: a request taken while no agent is free would show
                # as being dialled for the moment until it is given back, every round.
                agent_id = await self._agents.claim(queue, request.entry)
                if agent_id is None:
                    break  # later requests of this queue stand behind this one
                lease = await self._take_or_release(request, agent_id)
                if lease is None:
                    continue  # another dispatcher has it
                log.info("callback %s: agent %s reserved, dialling", request.id, agent_id)
                self._dialling[request.id] = asyncio.create_task(
                    self._attempt(request, agent_id, lease), name=f"callback-{request.id}"
                )
                started += 1
        return started

    async def _take_or_release(self, request: CallbackRequest, agent_id: str) -> Lease | None:
        """Lease ``request`` for the reserved agent; the agent is given back when another
        dispatcher has the request or Redis fails here."""
        try:
            lease = await self._requests.take(request.id, self.name, self._settings.lease_seconds)
        except BaseException:
            await self._release_quietly(agent_id)
            raise
        if lease is None:
            await self._release_quietly(agent_id)
        return lease

    async def _release_quietly(self, agent_id: str) -> None:
        try:
            await self._agents.release(agent_id)
        except (RedisError, OSError) as exc:
            log.warning("agent %s reserved for nothing, not given back: %s", agent_id, exc)

    async def _settled(self, settled: Settled) -> None:
        """A lease that ran out: its call in flight, if any, goes on the ticket."""
        if settled.attempt is None:
            log.info(
                "callback %s taken up again: its dispatcher's lease expired", settled.request_id
            )
            return
        log.warning(
            "callback %s: dispatcher %s stopped with a call in flight: %s -> %s",
            settled.request_id,
            settled.attempt.get("lost_dispatcher"),
            settled.attempt.get("outcome"),
            settled.state,
        )
        request = await self._requests.get(settled.request_id)
        if self._journal is not None and request is not None:
            record = {**settled.attempt, "state": settled.state}
            if await self._journal.attempt(request, record):
                await self._requests.unjournaled.written(request.id, record.get("attempt"))

    async def _in_call(self, queue: str, due: list[CallbackRequest]) -> set[str]:
        """Numbers of ``due`` on a call now; their requests' turns are held meanwhile."""
        if self._lines is None:
            return set()
        in_call = await self._lines.in_call({r.number for r in due}) if due else set()
        await self._requests.hold(queue, [r.id for r in due if r.number in in_call])
        return in_call

    async def _attempt(self, request: CallbackRequest, agent_id: str, lease: Lease) -> None:
        ledger = AttemptLedger(self._requests, lease, request, self._journal)
        renewing = asyncio.create_task(self._renew(lease, ledger))
        mode = self._settings.mode(request.queue)
        try:
            try:
                attempt = await self._connector.call_back(request, agent_id, mode, ledger)
            except Exception as exc:  # the connector should not raise; if it did, say so
                log.exception("callback %s: attempt failed", request.id)
                attempt = Attempt("failed", f"internal error: {exc}", agent_id)
            if ledger.phase == "connected" and attempt.outcome != REACHED:
                attempt = replace(attempt, outcome=REACHED)  # whatever failed after
            await ledger.written()
            await self._record(request, attempt, mode, ledger, lease)
        finally:
            renewing.cancel()
            await asyncio.gather(renewing, return_exceptions=True)
            self._dialling.pop(request.id, None)

    async def _renew(self, lease: Lease, ledger: AttemptLedger) -> None:
        while True:
            await asyncio.sleep(self._settings.lease_seconds / 3)
            try:
                if not await self._requests.renew(lease, self._settings.lease_seconds):
                    ledger.lost = True
                    log.warning("callback %s: lease lost", lease.request_id)
                    return
            except (RedisError, OSError) as exc:
                log.warning("callback %s: lease not renewed: %s", lease.request_id, exc)

    async def _record(
        self,
        request: CallbackRequest,
        attempt: Attempt,
        mode: str,
        ledger: AttemptLedger,
        lease: Lease,
    ) -> None:
        what = f"callback {request.id} attempt"
        if attempt.outcome in NOT_THE_CUSTOMER and not ledger.phase:
            log.info("callback %s: %s; tried again", request.id, attempt.detail or attempt.outcome)
            await until_redis_answers(what, lambda: self._requests.untake(lease))
            return
        attempts = ledger.attempt
        if attempt.outcome == REACHED:
            state, next_at = "done", 0.0
        elif attempt.outcome == "refused" or attempts >= self._settings.max_attempts:
            state, next_at = "failed", 0.0
        else:
            state = "pending"
            next_at = self._settings.hours.next_allowed(
                time.time() + self._settings.backoff(attempts)
            )
        record = {
            "attempt": attempts,
            "outcome": attempt.outcome,
            "detail": attempt.detail,
            "agent": attempt.agent_id,
            "mode": mode,
            "dispatcher": self.name,
            "call_id": attempt.call_id or ledger.call_id,
            "next_at": next_at or None,
            "recording": attempt.recording,
        }
        per_failed = self._settings.value.per_failed_attempt_seconds
        finished = await until_redis_answers(
            what,
            lambda: self._requests.finish_attempt(
                lease, state, record, next_at, per_failed, journal=self._journal is not None
            ),
        )
        if not finished:
            # Taken over meanwhile: the successor owns the booking; the call this
            # dispatcher placed still goes on the ticket.
            log.warning("callback %s: lease lost before the attempt was recorded", request.id)
            state = "lease_lost"
        if self._journal is not None:
            written = await self._journal.attempt(
                request, {**record, "state": state}, attempt.events
            )
            if written and finished:
                await self._requests.unjournaled.written(request.id, attempts)
        log.info("callback %s attempt %d: %s -> %s", request.id, attempts, attempt.outcome, state)
