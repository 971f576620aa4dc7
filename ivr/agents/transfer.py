"""Connecting one caller to an agent: wait in line, ring, whisper, bridge or REFER.

The caller waits with music and hears their place and estimated wait every
``announce_every_seconds``. When their place entitles them to a free agent,
the longest-idle one is rung; a ring-no-answer takes that agent out and the
next one is tried. With ``bridge`` the service dials the agent and stays in
the path (the recording goes on and it sees the end of the call); with
``refer`` the caller is handed to the agent's extension by a blind REFER.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from redis.exceptions import RedisError

from ivr.agents.board import Claim
from ivr.agents.call_desk import CallOnDesk
from ivr.agents.desk_calls import DeskCalls
from ivr.agents.desk_commands import DeskCommands
from ivr.agents.dialling import Dialler, DialPolicy
from ivr.agents.escalation import Conversation, EscalationServices, Requeue
from ivr.agents.legs import first_to_hang_up
from ivr.agents.monitor import Monitoring
from ivr.agents.queues import QueueDesk
from ivr.agents.screen_pop import ScreenPop
from ivr.agents.wakeups import AgentWakeups
from ivr.dialplan.ports import TransferOutcome
from ivr.exceptions import DialRefused, PromptError, TelephonyError
from ivr.media.hold_music import HoldMusic
from ivr.telephony.interface import Call
from ivr.tickets.model import CallJournal

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # a waiting caller looks again at least this often
# A caller on hold rides out a Redis outage this long before the plan's fallback.
QUEUE_OUTAGE_SECONDS = 30.0
Announce = Callable[[int, float], Awaitable[None]]  # (place in line from 1, estimated wait s)


class Speech(Protocol):
    async def speech(self, text: str, voice: str, keep_on_disk: bool = True) -> bytes: ...


@dataclass(frozen=True)
class TransferServices:
    """Built once by the service; shared by every call."""

    desk: QueueDesk
    wakeups: AgentWakeups
    dialler: Dialler
    policy: DialPolicy
    speech: Speech
    screen_pop: ScreenPop
    desk_calls: DeskCalls | None = None  # the agent desk's view of each agent's call
    monitoring: Monitoring | None = None  # supervisors listening in on bridged calls
    commands: DeskCommands | None = None  # the desk's escalations of a connected call

    def escalation(self) -> EscalationServices | None:
        if self.commands is None:
            return None
        return EscalationServices(
            self.desk,
            self.wakeups,
            self.dialler,
            self.policy,
            self.commands,
            self.desk_calls,
            self.monitoring,
        )


@dataclass
class _Waiting:
    """One caller's wait in a queue, and what it remembers between looks at the line."""

    queue: str
    entry: str  # the caller's place in line (their Call-ID)
    joined: float
    whisper: str
    announce: Announce
    music: HoldMusic
    excluded: set[str] = field(default_factory=set)  # agents who did not answer them
    announced_at: float | None = None  # monotonic time of the last place announcement


class AgentTransfer:
    """Transfers of one call (the runner's ``Transfers``)."""

    def __init__(
        self,
        call: Call,
        services: TransferServices,
        journal: CallJournal,
        ticket_id: int | None,
        voice: str,
    ) -> None:
        self._call = call
        self._services = services
        self._journal = journal
        self._ticket_id = ticket_id
        self._voice = voice
        self._on_desk = CallOnDesk(
            call, journal, ticket_id, services.desk_calls, services.screen_pop
        )
        self._requeue: Requeue | None = None  # a blind escalation to another queue
        self._escalated: dict[str, object] | None = None  # shown on the next agent's desk
        self._released = False  # the agent talking was released by an escalation

    async def estimated_wait(self, queue: str) -> float:
        """For a caller joining ``queue`` now; raises LookupError for an unknown queue."""
        if queue not in self._services.desk.settings:
            raise LookupError(f"no queue {queue!r} is configured")
        return (await self._services.desk.status(queue)).estimated_wait_seconds

    async def to_extension(self, extension: str, method: str, whisper: str) -> TransferOutcome:
        try:
            uri = self._services.policy.uri_for_extension(extension)
        except DialRefused as exc:
            self._journal.event("transfer_refused", extension=extension, reason=str(exc))
            return TransferOutcome.FALLBACK
        if method == "refer":
            return await self._refer(uri, agent_id=None)
        try:
            leg = await self._services.dialler.dial(uri, timeout=30.0)
        except TelephonyError as exc:
            self._journal.event("transfer_failed", extension=extension, reason=str(exc))
            return TransferOutcome.FALLBACK
        self._journal.handling.ring_attempts += 1
        return await self._converse(leg, whisper, agent_id=None)

    async def to_queue(self, queue: str, whisper: str, announce: Announce) -> TransferOutcome:
        outcome = await self._to_queue(queue, whisper, announce)
        while self._requeue is not None and outcome is TransferOutcome.CONNECTED:
            requeue, self._requeue = self._requeue, None
            self._escalated = requeue.escalated
            outcome = await self._to_queue(requeue.queue, "", announce)
        return outcome

    async def _to_queue(self, queue: str, whisper: str, announce: Announce) -> TransferOutcome:
        settings = self._services.desk.settings.get(queue)
        if settings is None:
            self._journal.event("transfer_failed", queue=queue, reason="no such queue configured")
            return TransferOutcome.FALLBACK
        self._journal.handling.queue = queue
        entry = self._call.info.call_id
        line = self._services.desk.line
        joined = time.time()
        try:
            await line.join(queue, entry, joined)
        except (RedisError, OSError) as exc:
            self._journal.event("transfer_failed", queue=queue, reason=f"queue unavailable: {exc}")
            return TransferOutcome.FALLBACK
        self._journal.event("queued", queue=queue, place=joined)
        music = HoldMusic(self._call)
        try:
            return await self._wait_in_line(
                _Waiting(queue, entry, joined, whisper, announce, music)
            )
        except (RedisError, OSError) as exc:
            self._journal.event("transfer_failed", queue=queue, reason=f"queue unavailable: {exc}")
            return TransferOutcome.FALLBACK
        finally:
            await music.stop()
            if self._journal.handling.wait_seconds is None:
                self._journal.handling.wait_seconds = round(time.time() - joined, 3)
            try:
                await line.leave(queue, entry)
            except (RedisError, OSError) as exc:
                log.warning("could not take %s out of queue %s: %s", entry, queue, exc)

    async def _wait_in_line(self, waiting: _Waiting) -> TransferOutcome:
        """Wait until connected, fallen back or the caller left. A Redis outage shorter
        than ``QUEUE_OUTAGE_SECONDS`` keeps the caller on hold in their place (raises
        RedisError or OSError after that)."""
        outage_since: float | None = None
        while True:
            if self._call.ended:
                return TransferOutcome.CALLER_LEFT
            token: int | None = self._services.wakeups.token()
            try:
                outcome = await self._look(waiting)
                outage_since = None
            except (RedisError, OSError) as exc:
                now = time.monotonic()
                if outage_since is None:
                    outage_since = now
                    self._journal.event("queue_outage", queue=waiting.queue, error=str(exc))
                    log.warning(
                        "queue %s unavailable, %s kept on hold: %s",
                        waiting.queue,
                        waiting.entry,
                        exc,
                    )
                if now - outage_since >= QUEUE_OUTAGE_SECONDS:
                    raise
                outcome, token = None, None
            if outcome is not None:
                return outcome
            waiting.music.start()
            await self._services.wakeups.wait(POLL_SECONDS, since=token)

    async def _look(self, waiting: _Waiting) -> TransferOutcome | None:
        """One look at the line: ring a free agent, fall back, or announce the
        caller's place; None to go on waiting."""
        queue, entry, joined, music = waiting.queue, waiting.entry, waiting.joined, waiting.music
        desk, settings = self._services.desk, self._services.desk.settings[queue]
        while True:
            claim = await desk.board.claim(queue, desk.line, entry, waiting.excluded)
            if claim.agent_id is not None:
                await music.stop()
                outcome = await self._ring(queue, claim, waiting.whisper, joined)
                if outcome is not None:
                    return outcome
                waiting.excluded.add(claim.agent_id)
                await desk.line.not_connecting(queue, entry)
            elif not claim.queued:  # taken out of line by someone else: stand in again
                await desk.line.join(queue, entry, joined)
            else:
                break
            if self._call.ended:
                return TransferOutcome.CALLER_LEFT
        status = await desk.status(queue)
        if status.agents_staffed == 0:
            self._journal.event("queue_fallback", queue=queue, reason="no agents logged in")
            return TransferOutcome.FALLBACK
        if time.time() - joined > settings.max_wait_seconds:
            self._journal.event("queue_fallback", queue=queue, reason="waited too long")
            return TransferOutcome.FALLBACK
        now = time.monotonic()
        if waiting.announced_at is None or now - waiting.announced_at >= (
            settings.announce_every_seconds
        ):
            waiting.announced_at = now
            wait = await desk.wait_for_place(queue, claim.ahead, claim.available)
            self._journal.event(
                "queue_position",
                queue=queue,
                position=claim.ahead + 1,
                estimated_wait_seconds=None if wait == float("inf") else round(wait),
            )
            await music.stop()
            await waiting.announce(claim.ahead + 1, wait)
            if self._call.ended:
                return TransferOutcome.CALLER_LEFT
        return None

    async def _ring(
        self, queue: str, claim: Claim, whisper: str, joined: float
    ) -> TransferOutcome | None:
        """Ring the claimed agent; None when they did not answer (try the next)."""
        assert claim.agent_id is not None
        board = self._services.desk.board
        settings = self._services.desk.settings[queue]
        agent = board.settings(claim.agent_id)
        assert agent is not None
        self._journal.handling.ring_attempts += 1
        self._journal.event("agent_ringing", agent=agent.id, claim=claim.sequence, queue=queue)
        try:
            uri = self._services.policy.check(agent.uri)
        except DialRefused as exc:
            self._journal.event("agent_no_answer", agent=agent.id, reason=str(exc))
            await board.not_answered(agent.id, str(exc))
            return None
        await self._on_desk.ringing(agent.id, queue, joined, self._escalated)
        if settings.transfer == "refer":
            self._journal.handling.wait_seconds = round(time.time() - joined, 3)
            outcome = await self._refer(uri, agent.id)
            if outcome is TransferOutcome.TRANSFERRED:
                # Out of the path now: the agent is counted busy for an average call.
                busy = settings.wrap_up_seconds + settings.average_handle_seconds
                await self._after_answer(board.finished(agent.id, busy), "agent busy")
            else:
                await self._after_answer(board.finished(agent.id, 0), "agent free")
                await self._on_desk.missed(agent.id)
            return outcome
        try:
            leg = await self._services.dialler.dial(uri, timeout=settings.ring_timeout_seconds)
        except TelephonyError as exc:
            self._journal.event("agent_no_answer", agent=agent.id, reason=str(exc))
            await board.not_answered(agent.id, str(exc))
            await self._on_desk.missed(agent.id)
            return None
        if self._call.ended:
            await leg.hangup()
            await self._after_answer(board.finished(agent.id, 0), "agent free")
            await self._on_desk.missed(agent.id)
            return TransferOutcome.CALLER_LEFT
        await self._after_answer(board.answered(agent.id), "agent on call")
        await self._on_desk.phase(agent.id, connected=True)  # before the whisper: the pop is up
        self._journal.handling.wait_seconds = round(time.time() - joined, 3)
        self._journal.handling.agent_id = agent.id
        started = time.time()
        try:
            return await self._converse(leg, whisper if settings.whisper else "", agent.id)
        finally:
            if not self._released:  # else the escalation gave them their wrap-up already
                await self._after_answer(
                    board.finished(agent.id, settings.wrap_up_seconds), "agent wrap-up"
                )
            self._released = False
            handled = time.time() - started + settings.wrap_up_seconds
            await self._after_answer(
                self._services.desk.line.record_handled(
                    queue, handled, settings.average_handle_seconds
                ),
                "handling time",
            )

    async def _after_answer(self, update: Awaitable[None], what: str) -> None:
        """A board or line update once an agent answered: a Redis failure must not end
        or re-queue a connected call (the orphan sweeper frees an agent left held)."""
        try:
            await update
        except (RedisError, OSError) as exc:
            log.warning("%s not recorded for call %s: %s", what, self._call.info.call_id, exc)

    async def _converse(self, leg: Call, whisper: str, agent_id: str | None) -> TransferOutcome:
        """Whisper to the agent's leg, bridge both ways, and wait for either side to end."""
        if whisper:
            try:
                await leg.play(await self._services.speech.speech(whisper, self._voice, False))
            except PromptError as exc:
                log.error("whisper not played: %s", exc)
        if self._call.ended:
            await leg.hangup()
            return TransferOutcome.CALLER_LEFT
        self._journal.handling.transfer_method = "bridge"
        self._journal.event("agent_connected", agent=agent_id, uri=leg.info.called_number)
        self._on_desk.pop(agent_id)
        self._call.bridge(leg)
        leg.bridge(self._call)
        started = time.time()
        monitoring, call_id = self._services.monitoring, self._call.info.call_id
        try:
            if monitoring is not None:
                await monitoring.bridged(call_id, self._call, leg, agent_id, self._journal)
            caller_left, last_agent = await self._talk(leg, agent_id)
        finally:
            if monitoring is not None:
                await monitoring.unbridged(call_id)  # a supervisor on the call is hung up
            await self._on_desk.phase(agent_id, connected=False)
        self._call.bridge(None)
        leg.bridge(None)
        await leg.hangup()
        self._journal.handling.talk_seconds = round(time.time() - started, 3)
        self._journal.event(
            "agent_call_ended", agent=last_agent, by="caller" if caller_left else "agent"
        )
        return TransferOutcome.CALLER_LEFT if caller_left else TransferOutcome.CONNECTED

    async def _talk(self, leg: Call, agent_id: str | None) -> tuple[bool, str | None]:
        """Until either side hangs up: whether the caller did, and who talked last. An
        agent of a queue may escalate meanwhile (:mod:`ivr.agents.escalation`)."""
        escalation = self._services.escalation()
        if escalation is None or agent_id is None:
            return await first_to_hang_up(self._call, leg), agent_id
        queue = self._journal.handling.queue
        talk = Conversation(
            self._call, leg, agent_id, queue, escalation, self._journal, self._ticket_id
        )
        ended = await talk.run()
        self._requeue, self._released = ended.requeue, ended.first_released
        return ended.caller_left, ended.agent

    async def _refer(self, uri: str, agent_id: str | None) -> TransferOutcome:
        self._journal.event("refer", agent=agent_id, uri=uri)
        try:
            await self._call.transfer(await self._services.policy.admit(uri))
        except TelephonyError as exc:
            self._journal.event("transfer_failed", uri=uri, reason=str(exc))
            return TransferOutcome.FALLBACK
        self._journal.handling.transfer_method = "refer"
        self._journal.handling.agent_id = agent_id
        self._on_desk.pop(agent_id)
        await self._on_desk.phase(agent_id, connected=True)  # its end is not seen: out of the path
        return TransferOutcome.TRANSFERRED
