"""Booking callbacks for one call (the runner's ``Callbacks``), and writing every
callback attempt onto the caller's original ticket (the dispatcher's journal)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from redis.exceptions import RedisError

from callback.dispatcher import AttemptEvent
from callback.requests import CallbackRequest, CallbackRequests
from ivr.agents.dialling import DialPolicy
from ivr.agents.queues import QueueDesk
from ivr.agents.settings import CallbackSettings
from ivr.exceptions import CallbackUnavailable, DialRefused, IvrError
from ivr.tickets.model import CALLBACK_CONNECTED, CallJournal, TicketEvent
from ivr.tickets.store import TicketStore

log = logging.getLogger(__name__)

SLOT_LEAD_SECONDS = 15 * 60  # a slot starting sooner than this is no real choice
INTERVAL_SECONDS = 15 * 60  # the forecast's interval
FORECAST_SLOTS = 3  # times offered from the forecast's valleys
FORECAST_SLOT_SPACING = 2 * 3600  # within one long valley, times this far apart
VIP_YES = ("1", "yes", "true", "y")  # variables.vip, as the directory match sets it


class CallbackBooking:
    def __init__(
        self,
        requests: CallbackRequests,
        desk: QueueDesk,
        policy: DialPolicy,
        settings: CallbackSettings,
        journal: CallJournal,
        ticket_id: int | None,
    ) -> None:
        self._requests = requests
        self._desk = desk
        self._policy = policy
        self._settings = settings
        self._journal = journal
        self._ticket_id = ticket_id

    def allowed(self, number: str) -> bool:
        if not self._settings.number_uri or not number.isdigit():
            return False
        try:
            self._policy.check(self._settings.number_uri.format(number=number))
        except DialRefused:
            return False
        return True

    async def unavailable(self, queue: str) -> str | None:
        if not self._settings.number_uri:
            return "callbacks are not configured (callbacks.number_uri)"
        if queue not in self._desk.settings:
            return f"no queue {queue!r} is configured"
        try:
            await self._desk.status(queue)
        except (RedisError, OSError) as exc:
            return f"callback queue unavailable (Redis unreachable: {exc})"
        return None

    async def slots(self, queue: str, now: float | None = None) -> list[tuple[str, float]]:
        """Later times today ("HH:MM", Unix seconds) that the queue's staffing can still
        serve before closing: the configured ``callbacks.slots``, or with ``slots:
        forecast`` the next valleys of the forecast (where it leaves an agent free)."""
        hours = self._settings.dispatch.hours
        zone = ZoneInfo(hours.timezone)
        now = time.time() if now is None else now
        today = datetime.fromtimestamp(now, zone)
        if today.weekday() not in hours.weekdays or queue not in self._desk.settings:
            return []
        close = _today_at(today, hours.closes).timestamp()
        try:
            status = await self._desk.status(queue)
            if self._settings.slots_from_forecast and self._desk.outlook is not None:
                free = await self._desk.outlook.free_intervals(
                    queue, status.agents_staffed, now + SLOT_LEAD_SECONDS, close, now
                )
                candidates = [
                    (datetime.fromtimestamp(at, zone).strftime("%H:%M"), at)
                    for at in _valley_starts(free)
                ]
            else:
                candidates = [
                    (label, _today_at(today, label).timestamp()) for label in self._settings.slots
                ]
        except (RedisError, OSError, IvrError):
            return []
        offered = []
        for label, at in candidates:
            if at < now + SLOT_LEAD_SECONDS or at >= close:
                continue
            capacity = status.agents_staffed * (close - at) / status.average_handle_seconds
            if status.waiting + 1 <= capacity:
                offered.append((label, at))
        return offered

    async def book(self, queue: str, number: str, not_before: float) -> str:
        """Book a callback of ``number`` in ``queue``, not dialled before ``not_before``
        (Unix seconds), at the place the caller had in the queue (else now), moved up
        by the value rule (``callbacks.value``) for a VIP of the employee directory
        (``variables.vip``) and the call's intent. Returns the booking's id.

        Raises:
            CallbackUnavailable: the number may not be called, no such queue, or
                Redis cannot be reached.
        """
        if not self.allowed(number):
            raise CallbackUnavailable(f"{number} may not be called back")
        if queue not in self._desk.settings:
            raise CallbackUnavailable(f"no queue {queue!r} is configured")
        # A caller who waited in this queue keeps the place they had.
        place = next(
            (
                float(e.detail["place"])
                for e in self._journal.events
                if e.kind == "queued" and e.detail.get("queue") == queue
            ),
            time.time(),
        )
        variables = self._journal.variables
        intent = self._journal.handling.intent or ""
        vip = variables.get("vip", "").strip().lower() in VIP_YES
        try:
            request_id = await self._requests.request(
                number,
                queue,
                place,
                not_before=not_before,
                ticket_id=self._ticket_id or 0,
                caller_name=variables.get("employee_name", ""),
                intent=intent,
                value=self._settings.dispatch.value.for_booking(vip, intent),
            )
        except (RedisError, OSError) as exc:
            raise CallbackUnavailable(f"callback queue unavailable: {exc}") from exc
        return request_id


def _valley_starts(free: list[float]) -> list[float]:
    """Up to ``FORECAST_SLOTS`` times from the free intervals' starts (in order): where
    each valley begins, and within a long one every ``FORECAST_SLOT_SPACING`` seconds."""
    chosen: list[float] = []
    previous = None
    for start in free:
        begins = previous is None or start - previous > INTERVAL_SECONDS
        if begins or (chosen and start - chosen[-1] >= FORECAST_SLOT_SPACING):
            chosen.append(start)
        previous = start
        if len(chosen) == FORECAST_SLOTS:
            break
    return chosen


def _today_at(today: datetime, clock: str) -> datetime:
    hours, minutes = (int(part) for part in clock.split(":"))
    midnight = today.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(hours=hours, minutes=minutes)


class TicketAttempts:
    """Puts each callback attempt on the ticket of the call that asked for it: its steps
    (``callback_agent_rung``, ``callback_customer_answered``, ...), then the
    ``callback_attempt`` record, each with the request and the attempt's number. An
    attempt whose record (same state) the ticket already has is not written again (the
    journal's outbox may hand over one its first writer was slow to write)."""

    def __init__(self, tickets: TicketStore, worker_id: str = "") -> None:
        self._tickets = tickets
        self._worker_id = worker_id  # whose node holds the leg's recording

    async def attempt(
        self,
        request: CallbackRequest,
        record: dict[str, object],
        events: tuple[AttemptEvent, ...] = (),
    ) -> bool:
        if not request.ticket_id:
            return True
        which = {"request": request.id, "attempt": record.get("attempt")}
        try:
            if await self._has_attempt(request.ticket_id, {**which, "state": record.get("state")}):
                return True
        except IvrError as exc:
            log.error("callback attempt not written to ticket %s: %s", request.ticket_id, exc)
            return False
        written = [TicketEvent(e.at, f"callback_{e.kind}", {**which, **e.detail}) for e in events]
        summary = {**which, **record, "worker": self._worker_id}
        written.append(TicketEvent(time.time(), "callback_attempt", summary))
        if record.get("outcome") == "connected":
            written.append(TicketEvent(time.time(), CALLBACK_CONNECTED, which))
        return await self._write(request, written)

    async def _has_attempt(self, ticket_id: int, which: Mapping[str, object]) -> bool:
        ticket = await self._tickets.get(ticket_id)
        return ticket is not None and any(
            event.kind == "callback_attempt"
            and all(event.detail.get(key) == value for key, value in which.items())
            for event in ticket.events
        )

    async def dialling(self, request: CallbackRequest, record: Mapping[str, object]) -> None:
        """Before the customer's phone rings: ``callback_dialling`` with the attempt's
        number and dispatcher, so a call whose dispatcher dies is still on the ticket."""
        which = {"request": request.id, "attempt": record.get("attempt")}
        event = TicketEvent(time.time(), "callback_dialling", {**record, **which})
        await self._write(request, [event])

    async def _write(self, request: CallbackRequest, events: list[TicketEvent]) -> bool:
        if not request.ticket_id:
            return True
        try:
            for event in events:
                await self._tickets.append_event(request.ticket_id, event)
        except IvrError as exc:
            log.error("callback attempt not written to ticket %s: %s", request.ticket_id, exc)
            return False
        return True
