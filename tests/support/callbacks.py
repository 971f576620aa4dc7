"""Callback dispatchers run alone (``ivr callbacks run``) against SIPp phones: their
configuration, the agents and bookings they start from, and what Redis says after."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import redis.asyncio as aioredis

from callback.requests import CallbackRequest, CallbackRequests
from ivr.agents.board import AgentBoard, AgentState
from ivr.agents.settings import AgentSettings
from support.harness import PYTHON, free_port

QUEUE = "helpdesk"
CONFIG = """dialling:
  allow:
    - '^sip:60\\d\\d@127\\.0\\.0\\.1:{agents_port}$'
    - '^sip:8\\d{{3}}@127\\.0\\.0\\.1:{customers_port}$'
agents:
{agents}
queues:
  helpdesk: {{whisper: false, wrap_up_seconds: 0}}
callbacks:
  number_uri: "sip:{{number}}@127.0.0.1:{customers_port}"
  lease_seconds: {lease_seconds}
  max_dialling: 5
  ring_timeout_seconds: 10
  backoff_seconds: [1]
  max_attempts: {max_attempts}
  redial_after_unknown: {redial_after_unknown}
  modes: {{helpdesk: agent_first}}
"""


def agent_uri(agent: str, agents_port: int) -> str:
    """Agent ``aN`` is extension 60NN on the agents' SIPp phone."""
    return f"sip:60{agent[1:]:0>2}@127.0.0.1:{agents_port}"


def write_config(
    path: Path,
    agents: Sequence[str],
    agents_port: int,
    customers_port: int,
    *,
    lease_seconds: float = 4,
    max_attempts: int = 3,
    redial_after_unknown: int = 1,
) -> Path:
    path.write_text(
        CONFIG.format(
            agents_port=agents_port,
            customers_port=customers_port,
            agents="\n".join(
                f'  - {{id: {a}, uri: "{agent_uri(a, agents_port)}", queues: [{QUEUE}]}}'
                for a in agents
            ),
            lease_seconds=lease_seconds,
            max_attempts=max_attempts,
            redial_after_unknown=redial_after_unknown,
        )
    )
    return path


def start_dispatcher(
    workdir: Path, config: Path, env: dict[str, str], name: str
) -> subprocess.Popen[bytes]:
    """``ivr callbacks run`` as worker ``name`` (its dispatcher: ``name-dispatcher``),
    logging into ``workdir``/``name``.log."""
    log = (workdir / f"{name}.log").open("wb")
    return subprocess.Popen(
        [PYTHON, "-m", "ivr", "callbacks", "run", "--config", str(config)],
        cwd=workdir,
        env={
            **os.environ,
            **env,
            "IVR_SIP_LISTEN": f"127.0.0.1:{free_port()}",
            "IVR_WORKER_ID": name,
            "PYTHONUNBUFFERED": "1",
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def seed(
    url: str,
    prefix: str,
    agents: Sequence[str],
    agents_port: int,
    bookings: Sequence[tuple[str, int]],
) -> None:
    """The agents available, and one booking per (number, ticket id), in that order."""
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        board = AgentBoard(
            client,
            prefix,
            tuple(AgentSettings(a, a, agent_uri(a, agents_port), (QUEUE,)) for a in agents),
        )
        await board.register_agents()
        for agent in agents:
            await board.set_requested(agent, AgentState.AVAILABLE, True)
        requests = CallbackRequests(client, prefix)
        for index, (number, ticket_id) in enumerate(bookings):
            await requests.request(number, QUEUE, 1000.0 + index, ticket_id=ticket_id)
    finally:
        await client.aclose()


async def counts(url: str, prefix: str) -> dict[str, int]:
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        return await CallbackRequests(client, prefix).counts()
    finally:
        await client.aclose()


async def bookings(url: str, prefix: str) -> list[CallbackRequest]:
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        return await CallbackRequests(client, prefix).listing(limit=10_000)
    finally:
        await client.aclose()
