"""A supervisor on a bridged call: listen, whisper, barge (Asterisk's ChanSpy, FreeSWITCH's
eavesdrop).

While a transfer holds a caller bridged to an agent, the worker carrying the call
keeps both legs here (:meth:`Monitoring.bridged`) and publishes the bridge in Redis
(worker, agent, the monitor on it), so the API of any worker or node knows which
worker to ask. A monitor dials the supervisor's extension through the dialling
policy (a target outside ``dialling.allow`` is refused and never dialled) and mixes
the legs (:meth:`ivr.telephony.interface.Call.mix`):

=========  ====================  ===================  ===================
mode       the supervisor hears  the agent hears      the caller hears
=========  ====================  ===================  ===================
listen     caller and agent      caller               agent
whisper    caller and agent      caller, supervisor   agent
barge      caller and agent      caller, supervisor   agent, supervisor
=========  ====================  ===================  ===================

One monitor a call. Its mode changes while it runs, through the API or by a key on
the supervisor's phone (1 listen, 2 whisper, 3 barge, as ChanSpy's); it ends when
asked, when the supervisor hangs up or with the bridge. What the phone does is audited
as ``phone:<extension>`` (``call.monitor_mode``, ``call.monitor_end``). Each start,
change and end is an event on the caller's ticket.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ivr.agents.dialling import DialPolicy
from ivr.exceptions import IvrError
from ivr.state import keys
from ivr.tasks import OwnedTasks, cancel_and_wait
from ivr.telephony.interface import Call, CallEnded, DigitPressed
from ivr.tickets.audit import OK, AuditEntry
from ivr.tickets.model import CallJournal

log = logging.getLogger(__name__)

RING_TIMEOUT_SECONDS = 30.0  # the supervisor's phone, then 'did not answer'
BRIDGE_TTL_SECONDS = 4 * 3600  # a dead worker's bridge records expire


class Mode(enum.StrEnum):
    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"

    @classmethod
    def parse(cls, text: object) -> Mode:
        """Raises ValueError naming the modes."""
        try:
            return cls(str(text))
        except ValueError:
            names = ", ".join(m.value for m in cls)
            raise ValueError(f"mode must be one of {names}, not {str(text)[:40]!r}") from None


PHONE_KEYS = {"1": Mode.LISTEN, "2": Mode.WHISPER, "3": Mode.BARGE}


class MonitorError(IvrError):
    """A monitor could not be started, changed or ended (subclasses say why)."""


class NotBridged(MonitorError):
    """The call is not bridged to an agent on this worker (or no longer)."""


class MonitorBusy(MonitorError):
    """The call already has a monitor (or one is being dialled)."""


class NoMonitor(MonitorError):
    """The call has no monitor to change or end."""


class Dialler(Protocol):
    async def dial(self, uri: str, timeout: float = 30.0) -> Call: ...


class AuditLog(Protocol):
    async def add_audit(self, entry: AuditEntry) -> None: ...


@dataclass
class _Monitor:
    leg: Call
    mode: Mode
    extension: str
    uri: str
    actor: str
    started_at: float
    watcher: asyncio.Task[None] | None = None


@dataclass
class _Bridge:
    call_id: str
    caller: Call
    agent: Call
    agent_id: str | None
    journal: CallJournal
    since: float = field(default_factory=time.time)
    monitor: _Monitor | None = None
    dialling: bool = False


class Monitoring:
    """This worker's bridged calls and the monitors on them."""

    def __init__(
        self,
        dialler: Dialler,
        policy: DialPolicy,
        client: aioredis.Redis | None,
        prefix: str,
        worker_id: str,
        audit: AuditLog | None = None,
        ring_timeout_seconds: float = RING_TIMEOUT_SECONDS,
    ) -> None:
        self._dialler = dialler  # policed: every dial is admitted by the limits
        self._policy = policy
        self._client = client
        self._prefix = prefix
        self.worker_id = worker_id
        self._audit = audit
        self._ring_timeout = ring_timeout_seconds
        self._bridges: dict[str, _Bridge] = {}
        self._watchers = OwnedTasks()

    # ---- the bridges, as transfers make and end them ----

    async def bridged(
        self, call_id: str, caller: Call, agent: Call, agent_id: str | None, journal: CallJournal
    ) -> None:
        """``caller`` and ``agent`` are bridged from now on (until :meth:`unbridged`)."""
        bridge = _Bridge(call_id, caller, agent, agent_id, journal)
        self._bridges[call_id] = bridge
        await self._publish(bridge)

    async def unbridged(self, call_id: str) -> None:
        """The bridge ends: its monitor with it (the supervisor is hung up). Never raises."""
        bridge = self._bridges.pop(call_id, None)
        if bridge is None:
            return
        if bridge.monitor is not None:
            await self._end(bridge, "the call", "bridge ended")
        if self._client is not None:
            try:
                await self._client.delete(keys.live_bridge(self._prefix, call_id))
            except (RedisError, OSError) as exc:
                log.warning("bridge record of %s not removed: %s", call_id, exc)

    def carries(self, call_id: str) -> bool:
        return call_id in self._bridges

    # ---- monitors ----

    def target(self, extension: str) -> str:
        """The supervisor's URI for ``extension``. Raises DialRefused (nothing dialled)."""
        return self._policy.uri_for_extension(extension)

    async def start(self, call_id: str, mode: Mode, extension: str, actor: str) -> dict[str, Any]:
        """Dial ``extension`` and mix as ``mode`` says; the view of the bridge.

        Raises:
            NotBridged: no bridge of that call here (or it ended while dialling).
            MonitorBusy: the call has a monitor already, or one is ringing.
            DialRefused: the dialling policy refuses the extension (nothing dialled).
            TelephonyError: the supervisor's phone did not answer.
        """
        bridge = self._bridge(call_id)
        if bridge.monitor is not None or bridge.dialling:
            raise MonitorBusy(f"call {call_id[:80]!r} is monitored already")
        uri = self.target(extension)
        bridge.dialling = True
        try:
            leg = await self._dialler.dial(uri, timeout=self._ring_timeout)
        finally:
            bridge.dialling = False
        if self._bridges.get(call_id) is not bridge:
            await leg.hangup()
            raise NotBridged(f"call {call_id[:80]!r} ended while the supervisor was rung")
        monitor = _Monitor(leg, mode, extension, uri, actor, time.time())
        bridge.monitor = monitor
        self._mix(bridge, monitor)
        monitor.watcher = self._watchers.start(self._watch(bridge, monitor), "monitor")
        bridge.journal.event("monitor_started", mode=mode.value, extension=extension, by=actor)
        log.info("call %s: %s monitors (%s) from %s", call_id, actor, mode.value, uri)
        await self._publish(bridge)
        return self.view(call_id) or {}

    async def switch(self, call_id: str, mode: Mode, actor: str) -> dict[str, Any]:
        """Change the running monitor's mode. Raises NotBridged, NoMonitor."""
        bridge = self._bridge(call_id)
        monitor = bridge.monitor
        if monitor is None:
            raise NoMonitor(f"call {call_id[:80]!r} has no monitor")
        if monitor.mode is not mode:
            monitor.mode = mode
            self._mix(bridge, monitor)
            bridge.journal.event("monitor_mode", mode=mode.value, by=actor)
            log.info("call %s: monitor now %s (%s)", call_id, mode.value, actor)
            await self._publish(bridge)
        return self.view(call_id) or {}

    async def stop(self, call_id: str, actor: str) -> dict[str, Any]:
        """End the monitor and hang the supervisor up. Raises NotBridged, NoMonitor."""
        bridge = self._bridge(call_id)
        if bridge.monitor is None:
            raise NoMonitor(f"call {call_id[:80]!r} has no monitor")
        await self._end(bridge, actor, "ended")
        await self._publish(bridge)
        return self.view(call_id) or {}

    def view(self, call_id: str) -> dict[str, Any] | None:
        """This worker's bridge of the call as the API shows it (times in Unix seconds)."""
        bridge = self._bridges.get(call_id)
        return None if bridge is None else self._row(bridge)

    async def published(self, call_id: str) -> dict[str, Any] | None:
        """The bridge of the call from whichever worker carries it (Redis); this
        worker's own when Redis is away."""
        if self._client is not None:
            try:
                raw = await self._client.get(keys.live_bridge(self._prefix, call_id))
                found: dict[str, Any] | None = None if raw is None else json.loads(raw)
                return found
            except (RedisError, OSError) as exc:
                log.warning("bridge of %s not read from Redis: %s", call_id, exc)
        return self.view(call_id)

    async def worker_api(self, worker_id: str) -> str | None:
        """The API address ``worker_id`` published (``keys.workers``), None if unknown."""
        if self._client is None:
            return None
        raw = await self._client.hget(keys.workers(self._prefix), worker_id)
        api = None if raw is None else json.loads(raw).get("api")
        return str(api) if api else None

    async def close(self) -> None:
        for call_id in list(self._bridges):
            await self.unbridged(call_id)

    # ---- inside ----

    def _bridge(self, call_id: str) -> _Bridge:
        bridge = self._bridges.get(call_id)
        if bridge is None:
            raise NotBridged(f"call {call_id[:80]!r} is not bridged to an agent on this worker")
        return bridge

    @staticmethod
    def _mix(bridge: _Bridge, monitor: _Monitor) -> None:
        supervisor = monitor.leg
        supervisor.mix([bridge.caller, bridge.agent])
        bridge.agent.mix([supervisor] if monitor.mode in (Mode.WHISPER, Mode.BARGE) else [])
        bridge.caller.mix([supervisor] if monitor.mode is Mode.BARGE else [])

    async def _watch(self, bridge: _Bridge, monitor: _Monitor) -> None:
        """The supervisor's keys change the mode; their hanging up ends the monitor."""
        actor = f"phone:{monitor.extension}"
        while not isinstance(event := await monitor.leg.next_event(), CallEnded):
            mode = PHONE_KEYS.get(event.digit) if isinstance(event, DigitPressed) else None
            if mode is not None and mode is not monitor.mode and bridge.monitor is monitor:
                try:
                    await self.switch(bridge.call_id, mode, actor)
                except MonitorError:
                    continue  # ended meanwhile
                await self._record(bridge, monitor, actor, "call.monitor_mode", {"via": "key"})
        if bridge.monitor is not monitor:
            return
        monitor.watcher = None  # this task: not cancelled by the end it makes
        await self._end(bridge, actor, "supervisor hung up")
        await self._publish(bridge)
        await self._record(bridge, monitor, actor, "call.monitor_end", {"by": "supervisor hung up"})

    async def _end(self, bridge: _Bridge, actor: str, reason: str) -> None:
        monitor, bridge.monitor = bridge.monitor, None
        if monitor is None:
            return
        for leg in (bridge.caller, bridge.agent, monitor.leg):
            leg.mix([])
        if monitor.watcher is not None:
            await cancel_and_wait([monitor.watcher])
        await monitor.leg.hangup()
        seconds = round(time.time() - monitor.started_at, 1)
        bridge.journal.event("monitor_ended", by=actor, reason=reason, seconds=seconds)
        log.info("call %s: monitor by %s ended (%s)", bridge.call_id, monitor.actor, reason)

    async def _record(
        self, bridge: _Bridge, monitor: _Monitor, actor: str, action: str, detail: dict[str, Any]
    ) -> None:
        """What the supervisor's phone did (no API request) still leaves an audit row."""
        if self._audit is None:
            return
        entry = AuditEntry(
            at=time.time(),
            actor=actor,
            role="supervisor",
            action=action,
            target=bridge.call_id,
            outcome=OK,
            detail={**detail, "mode": monitor.mode.value, "started_by": monitor.actor},
        )
        try:
            await self._audit.add_audit(entry)
        except IvrError as exc:
            log.error("audit row not written (%s): %s", exc, entry)

    def _row(self, bridge: _Bridge) -> dict[str, Any]:
        monitor = bridge.monitor
        return {
            "call_id": bridge.call_id,
            "worker_id": self.worker_id,
            "agent_id": bridge.agent_id,
            "bridged_since": bridge.since,
            "monitor": None
            if monitor is None
            else {
                "mode": monitor.mode.value,
                "extension": monitor.extension,
                "by": monitor.actor,
                "since": monitor.started_at,
            },
        }

    async def _publish(self, bridge: _Bridge) -> None:
        if self._client is None or self._bridges.get(bridge.call_id) is not bridge:
            return  # ended: unbridged removed its record
        try:
            await self._client.set(
                keys.live_bridge(self._prefix, bridge.call_id),
                json.dumps(self._row(bridge)),
                ex=BRIDGE_TTL_SECONDS,
            )
        except (RedisError, OSError) as exc:
            log.warning("bridge of %s not published in Redis: %s", bridge.call_id, exc)
