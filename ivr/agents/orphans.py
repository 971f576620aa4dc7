"""Agents held by a call that no longer exists are freed.

An agent is ``ringing`` or ``on_call`` for a line entry: a live caller (its
call id, in the live-call index while some worker carries it) or a callback
(``cb:<id>``, ``dialling`` while a dispatcher holds its lease), or an agent's
consultation of a second-line agent for a live caller (``consult:<call id>``,
:mod:`ivr.agents.escalation_reach`: it lasts as long as that caller). When the worker
or dispatcher carrying it dies, the sweeper closes the call, the lease runs
out, and nobody is left to end the agent's call: every worker looks for such
agents and frees them (one compare-and-set, so two workers never fight).
"""

from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from callback.requests import ENTRY_PREFIX, CallbackRequests
from ivr.agents.board import AgentBoard, AgentState
from ivr.agents.escalation_reach import CONSULT_PREFIX
from ivr.state import keys

log = logging.getLogger(__name__)

CHECK_INTERVAL_SECONDS = 5.0
# A claim is made before its call shows up everywhere; never judge one younger than this.
GRACE_SECONDS = 10.0
HELD = (AgentState.RINGING, AgentState.ON_CALL)


class OrphanedAgents:
    def __init__(
        self, board: AgentBoard, requests: CallbackRequests, client: aioredis.Redis, prefix: str
    ) -> None:
        self._board = board
        self._requests = requests
        self._client = client
        self._prefix = prefix
        self._missing: dict[str, str] = {}  # agent -> call found gone at the last check

    async def _call_exists(self, entry: str) -> bool:
        if entry.startswith(ENTRY_PREFIX):
            request = await self._requests.get(entry[len(ENTRY_PREFIX) :])
            return request is not None and request.state == "dialling"
        index = keys.live_calls_index(self._prefix)
        call = entry.removeprefix(CONSULT_PREFIX)
        return await self._client.zscore(index, call) is not None

    async def release(self, now: float | None = None) -> list[str]:
        """Free the agents whose call was gone at this check and the one before;
        returns their ids."""
        moment = time.time() if now is None else now
        freed = []
        missing, self._missing = self._missing, {}
        for agent in await self._board.views():
            if agent.state not in HELD or not agent.call or moment - agent.since < GRACE_SECONDS:
                continue
            if await self._call_exists(agent.call):
                continue
            if missing.get(agent.id) != agent.call:
                # Gone twice in a row: a live call's worker stores it again every few
                # seconds, so one that Redis briefly lost is not taken for dead.
                self._missing[agent.id] = agent.call
                continue
            reason = f"freed: call {agent.call} ended without them (its worker was lost)"
            if await self._board.release(agent.id, agent.call, reason):
                log.warning("agent %s %s", agent.id, reason)
                freed.append(agent.id)
        return freed

    async def run(self) -> None:
        while True:
            await asyncio.sleep(CHECK_INTERVAL_SECONDS)
            try:
                await self.release()
            except (RedisError, OSError) as exc:
                log.debug("orphaned agents not checked: %s", exc)
