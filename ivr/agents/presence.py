"""Agent presence from SIP: a phone that cannot be reached takes its agent offline.

Two ways to find out, both ending in :meth:`AgentBoard.unreachable` (offline with
the reason ``unreachable: <what SIP said>`` until the agent logs in again, by phone,
desk or API):

- every dial to an agent's URI (a transfer, a callback) that fails with 404, 408,
  410, 480, 502, 503, 504 or a transport error (:class:`PresenceDialler`): with a
  PBX as registrar, a phone whose registration is gone gets 404 or 480 there;
- optionally, a SIP OPTIONS every ``agent_phone.probe_interval_seconds`` to the
  phones of agents who would be rung next (available or in wrap-up)
  (:class:`AgentProbe`), so a dead phone is found before a caller waits on it.
  One worker of all probes each round (a lock in Redis).
"""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ivr.agents.board import AgentBoard, AgentState
from ivr.agents.dialling import Dialler, normalise_target
from ivr.agents.settings import AgentSettings
from ivr.exceptions import DialRefused, TelephonyError
from ivr.state import keys
from ivr.telephony.interface import Call
from ivr.telephony.reachability import options_status, unreachable_detail

log = logging.getLogger(__name__)

# States whose phone would be rung next: those the probe checks.
PROBED = (AgentState.AVAILABLE, AgentState.WRAP_UP)


def _agents_by_target(agents: tuple[AgentSettings, ...]) -> dict[str, str]:
    found = {}
    for agent in agents:
        try:
            found[normalise_target(agent.uri)] = agent.id
        except DialRefused:
            continue
    return found


class PresenceDialler:
    """A dialler that takes an agent offline when a dial to their phone says it is
    not there; the error goes on to the caller unchanged."""

    def __init__(self, dialler: Dialler, board: AgentBoard, agents: tuple[AgentSettings, ...]):
        self._dialler = dialler
        self._board = board
        self._agents = _agents_by_target(agents)

    async def dial(self, uri: str, timeout: float = 30.0) -> Call:
        try:
            return await self._dialler.dial(uri, timeout)
        except TelephonyError as exc:
            detail = unreachable_detail(exc)
            agent_id = self._agent_of(uri) if detail else None
            if detail and agent_id:
                try:
                    await self._board.unreachable(agent_id, detail)
                except (RedisError, OSError) as redis_exc:
                    log.warning("agent %s unreachable, not noted: %s", agent_id, redis_exc)
            raise

    def _agent_of(self, uri: str) -> str | None:
        try:
            return self._agents.get(normalise_target(uri))
        except DialRefused:
            return None


class AgentProbe:
    """Every ``interval`` seconds, one SIP OPTIONS to each phone of an agent who would
    be rung next; an unreachable one is taken offline (not while ringing or on a call)."""

    def __init__(
        self,
        board: AgentBoard,
        client: aioredis.Redis,
        prefix: str,
        worker_id: str,
        interval: float,
        timeout: float,
    ) -> None:
        self._board = board
        self._client = client
        self._lock = keys.agent_probe_round(prefix)
        self._worker_id = worker_id
        self._interval = interval
        self._timeout = timeout

    async def run(self) -> None:
        while True:
            try:
                if await self._client.set(
                    self._lock, self._worker_id, nx=True, px=max(1, int(self._interval * 1000))
                ):
                    await self.probe_once()
            except (RedisError, OSError) as exc:
                log.debug("agent phones not probed: %s", exc)
            await asyncio.sleep(self._interval)

    async def probe_once(self) -> list[str]:
        """Probe every agent in a probed state at once; returns who was taken offline."""
        views = [v for v in await self._board.views() if v.state in PROBED]
        results = await asyncio.gather(*(options_status(v.uri, self._timeout) for v in views))
        taken = []
        for view, result in zip(views, results, strict=True):
            if result is None or result.reachable:
                continue
            if await self._board.unreachable(view.id, result.detail, only_idle=True):
                taken.append(view.id)
        return taken
