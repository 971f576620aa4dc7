"""One inbound call from answer to ticket: the glue between telephony, plan and storage."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from redis.exceptions import RedisError

from ivr.agents.callback_booking import CallbackBooking
from ivr.agents.contact_center import ContactCenter
from ivr.agents.transfer import AgentTransfer
from ivr.dialplan.http_lookup import JsonFetcher
from ivr.dialplan.nodes.call import CallServices as PlanServices
from ivr.dialplan.prompt_player import AudioPromptPlayer
from ivr.dialplan.registry import PlanRegistry
from ivr.dialplan.runner import PlanRunner
from ivr.directory import EmployeeDirectory
from ivr.exceptions import CallerHungUp, CallGone, IvrError, NoAck
from ivr.media.messages import CallMessageTaker
from ivr.media.prompts import PromptLibrary
from ivr.media.recording import CallRecorder, recording_path
from ivr.speech.listener import CallSpeech
from ivr.speech.recognizer import SpeechEngine
from ivr.state.dialogs import DialogClaims
from ivr.state.live_calls import LiveCall, LiveCallRegistry
from ivr.tasks import finish_despite_cancel
from ivr.telephony.interface import MEDIA_TIMEOUT, Call, DigitPressed
from ivr.tickets.model import CallJournal, Disposition, TicketEnd, TicketStart
from ivr.tickets.store import TicketStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallServices:
    """What every call needs, built once by the service."""

    plans: PlanRegistry
    prompts: PromptLibrary
    tickets: TicketStore
    live_calls: LiveCallRegistry
    recordings_dir: Path
    worker_id: str
    fetcher: JsonFetcher
    directory: EmployeeDirectory
    service_api: str  # this worker's own API, for plans that look things up in it
    contact_center: ContactCenter | None = None  # agents, queues and callbacks
    speech: SpeechEngine | None = None  # None: no model installed, keys only
    dialogs: DialogClaims | None = None  # one worker, one ticket per INVITE


class CallSession:
    def __init__(self, call: Call, services: CallServices) -> None:
        self._call = call
        self._services = services
        self._journal = CallJournal()
        self._ticket_id: int | None = None
        self._recorder: CallRecorder | None = None

    async def run(self) -> None:
        if await self._taken_elsewhere() or await self._agent_phone_served():
            return
        info = self._call.info
        plan = self._services.plans.for_call(info)
        start = TicketStart(
            call_id=info.call_id,
            worker_id=self._services.worker_id,
            caller_number=info.caller_number,
            called_number=info.called_number,
            plan_name=plan.name,
            plan_version=plan.version,
            started_at=time.time(),
        )
        self._journal.event("incoming", caller_uri=info.caller_uri, called=info.called_number)
        employee = self._services.directory.by_number(info.caller_number)
        if employee is not None:
            self._journal.identified(employee.as_variables(), by="number")
        pending_callback = await self._pending_callback(info.caller_number)
        try:
            self._ticket_id = await self._services.tickets.create(start)
        except IvrError as exc:
            # The call is still taken; the ticket is written whole when it ends.
            log.error("ticket not created at call start for %s: %s", info.call_id, exc)
        log.info(
            "call %s from %s to %s: plan %s, ticket %s",
            info.call_id,
            info.caller_uri,
            info.called_number,
            plan.name,
            self._ticket_id,
        )
        live = LiveCall(
            call_id=info.call_id,
            worker_id=self._services.worker_id,
            ticket_id=self._ticket_id or 0,
            caller_number=info.caller_number,
            called_number=info.called_number,
            plan=plan.name,
            started_at=start.started_at,
        )
        await self._services.live_calls.add(live)
        disposition, reason = Disposition.FAILED, "unknown"
        try:
            await self._call.answer()
            self._journal.answered_at = time.time()
            self._journal.event("answered")
            if plan.record and self._ticket_id is not None:
                path = recording_path(
                    self._services.recordings_dir, self._ticket_id, start.started_at
                )
                self._recorder = CallRecorder(path)
                self._call.add_audio_sink(self._recorder)
                if self._recorder.error:
                    self._journal.event("recording_failed", error=self._recorder.error)
            player = AudioPromptPlayer(self._call, self._services.prompts, self._journal)
            await PlanRunner(
                plan,
                self._call,
                player,
                self._journal,
                PlanServices(
                    fetcher=self._services.fetcher,
                    directory=self._services.directory,
                    plans=self._services.plans.get,
                    transfers=self._transfers(plan.voice),
                    callbacks=self._callbacks(),
                    speech=CallSpeech(self._call, self._services.speech)
                    if self._services.speech is not None
                    else None,
                    messages=CallMessageTaker(
                        self._call,
                        recording_path(
                            self._services.recordings_dir, self._ticket_id or 0, start.started_at
                        ).parent,
                        self._ticket_id,
                    ),
                ),
                caller_number=info.caller_number,
                builtins={
                    "called_number": info.called_number,
                    "ticket_id": str(self._ticket_id or ""),
                    "service_api": self._services.service_api,
                },
                on_node=self._node_entered,
            ).run()
            disposition, reason = Disposition.COMPLETED, "plan finished"
        except CallerHungUp as exc:
            if exc.reason == MEDIA_TIMEOUT:
                disposition = Disposition.MEDIA_TIMEOUT
                reason = "media timeout: the caller's audio stopped and no BYE came"
            else:
                disposition, reason = Disposition.ABANDONED, f"caller hung up: {exc.reason}"
        except NoAck as exc:
            self._journal.event("no_ack")
            disposition, reason = Disposition.FAILED, f"{exc}: the caller's side never confirmed"
        except CallGone as exc:
            disposition, reason = Disposition.ABANDONED, str(exc)
        except asyncio.CancelledError:
            disposition, reason = Disposition.FAILED, "service stopped before the call ended"
            raise
        except Exception as exc:
            log.exception("call %s failed", info.call_id)
            disposition, reason = Disposition.FAILED, f"{type(exc).__name__}: {exc}"
        finally:
            if pending_callback and self._journal.handling.agent_id is not None:
                await self._cancel_callback(pending_callback)
            await finish_despite_cancel(self._close(start, disposition, reason))

    async def _taken_elsewhere(self) -> bool:
        """A copy of an INVITE another call already took (re-routed by the edge while
        this worker was slow, or seen twice) is refused unanswered: no second ticket."""
        claims = self._services.dialogs
        if claims is None:
            return False
        info = self._call.info
        holder = await claims.claim(info.call_id, info.headers.get("From", ""))
        if holder is None:
            return False
        log.warning("call %s refused: this INVITE was taken already (%s)", info.call_id, holder)
        await self._call.hangup()
        return True

    async def _agent_phone_served(self) -> bool:
        """An agent calling from their own extension gets the agent menu (no ticket:
        the change is audited); True unless they chose to go on to the hotline."""
        center = self._services.contact_center
        login = None if center is None else center.phone_login
        agent = None if login is None else login.agent_calling(self._call.info)
        if login is None or agent is None:
            return False
        log.info("call %s from agent %s: the agent menu", self._call.info.call_id, agent.id)
        try:
            return not await login.serve(self._call, agent)
        except CallGone:
            return True
        except Exception:
            log.exception("agent menu failed for %s", self._call.info.call_id)
            return True

    def _transfers(self, voice: str) -> AgentTransfer | None:
        center = self._services.contact_center
        if center is None:
            return None
        return AgentTransfer(self._call, center.transfers, self._journal, self._ticket_id, voice)

    async def _pending_callback(self, number: str) -> str | None:
        """A callback this caller is waiting for: plans see ``callback_pending``; reaching
        an agent on this call cancels it (calling again is one way to cancel)."""
        center = self._services.contact_center
        if center is None or not number:
            return None
        try:
            pending = await center.requests.pending_for(number)
        except (RedisError, OSError):
            return None
        if pending is None:
            return None
        self._journal.set_variable("callback_pending", "yes", "call start")
        return pending.id

    async def _cancel_callback(self, request_id: str) -> None:
        center = self._services.contact_center
        assert center is not None
        try:
            if await center.requests.cancel(request_id, "the caller reached an agent by calling"):
                self._journal.event("callback_cancelled", request=request_id)
        except (RedisError, OSError) as exc:
            log.warning("pending callback %s not cancelled: %s", request_id, exc)

    def _callbacks(self) -> CallbackBooking | None:
        center = self._services.contact_center
        return None if center is None else center.booking(self._journal, self._ticket_id)

    async def _node_entered(self, node: str) -> None:
        await self._services.live_calls.update_node(self._call.info.call_id, node)

    async def _close(self, start: TicketStart, disposition: Disposition, reason: str) -> None:
        await self._call.hangup()
        await self._keys_never_read()
        recording = None
        if self._recorder is not None:
            self._recorder.close()
            if self._recorder.error:
                self._journal.event("recording_failed", error=self._recorder.error)
            else:
                recording = str(self._recorder.path)
        end = self._journal.finish(disposition, reason, recording)
        await self._write_ticket(start, end)
        await self._services.live_calls.remove(start.call_id)

    async def _keys_never_read(self) -> None:
        """Keys the caller pressed that no node read (pressed during a prompt, then they
        hung up) go on the ticket too: what the caller pressed is never lost."""
        while isinstance(event := await self._call.next_event(timeout=0), DigitPressed):
            self._journal.pressed_unread(event.digit)

    async def _write_ticket(self, start: TicketStart, end: TicketEnd) -> None:
        tickets = self._services.tickets
        try:
            if self._ticket_id is None:
                self._ticket_id = await tickets.create(start)
            await tickets.finish(self._ticket_id, end)
            log.info(
                "call %s ticket %s: %s (%s)",
                start.call_id,
                self._ticket_id,
                end.disposition.value,
                end.end_reason,
            )
        except IvrError as exc:
            log.error("ticket for call %s not written: %s", start.call_id, exc)
