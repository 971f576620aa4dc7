"""Callback dispatchers (``ivr callbacks run``) sharing 200 callbacks through Redis, one
killed with SIGKILL half-way: nothing lost, nobody dialled twice at once.

Agents and customers are SIPp phones: the agents' phone answers and waits for the
service to hang up; the customers' phone answers, talks a second and hangs up.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import uuid
from collections import Counter
from pathlib import Path

import redis.asyncio as aioredis
from support.harness import PYTHON, free_port, wait_until
from support.sipp import SIPP_DIR

from callback.requests import CallbackRequests
from ivr.agents.board import AgentBoard, AgentState
from ivr.agents.settings import AgentSettings

CALLBACKS = 200
AGENTS = [f"a{n}" for n in range(1, 11)]
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
  lease_seconds: 4
  max_dialling: 5
  ring_timeout_seconds: 10
  backoff_seconds: [1]
  modes: {{helpdesk: agent_first}}
"""


def sipp_phone(scenario: str, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    sipp = shutil.which("sipp")
    assert sipp, "sipp is not installed (make test installs sip-tester)"
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            sipp,
            "-sf",
            str(SIPP_DIR / scenario),
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-mp",
            str(free_port(count=4)),  # SIPp binds the three ports above it too
            "-nostdin",
            "-nd",
            "-trace_msg",
            "-message_file",
            str(workdir / "messages.log"),
        ],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


def dispatcher(
    workdir: Path, config: Path, env: dict[str, str], name: str
) -> subprocess.Popen[bytes]:
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


def initial_invites(message_log: Path) -> Counter[str]:
    """Numbers dialled, one count per new call (INVITEs without a To tag)."""
    counts: Counter[str] = Counter()
    text = message_log.read_text(errors="replace") if message_log.exists() else ""
    for message in re.split(r"\n-{20,}[^\n]*\n", text):
        request = re.search(r"^INVITE sip:(\d+)@", message, re.MULTILINE)
        to = re.search(r"^To:.*$", message, re.MULTILINE)
        if request and to and "tag=" not in to.group(0):
            counts[request.group(1)] += 1
    return counts


async def seed(url: str, prefix: str, agents_port: int) -> None:
    client = aioredis.Redis.from_url(url, decode_responses=True)
    board = AgentBoard(
        client,
        prefix,
        tuple(
            AgentSettings(a, a, f"sip:60{a[1:]:0>2}@127.0.0.1:{agents_port}", ("helpdesk",))
            for a in AGENTS
        ),
    )
    await board.register_agents()
    for agent in AGENTS:
        await board.set_requested(agent, AgentState.AVAILABLE, True)
    requests = CallbackRequests(client, prefix)
    for index in range(CALLBACKS):
        await requests.request(f"8{index:03d}", "helpdesk", 1000.0 + index)
    await client.aclose()


async def counts(url: str, prefix: str) -> dict[str, int]:
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        return await CallbackRequests(client, prefix).counts()
    finally:
        await client.aclose()


async def finished_requests(url: str, prefix: str) -> list[dict[str, object]]:
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        listing = await CallbackRequests(client, prefix).listing(limit=1000)
        return [{"number": r.number, "state": r.state, "history": r.history} for r in listing]
    finally:
        await client.aclose()


def test_a_killed_dispatcher_loses_nothing_and_nobody_is_dialled_twice_at_once(
    shared_redis_url: str, tmp_path: Path
) -> None:
    agents_port, customers_port = free_port(), free_port()
    agent_phones = sipp_phone("uas_wait_bye.xml", agents_port, tmp_path / "agents")
    customer_phones = sipp_phone("uas_answer_hang_up.xml", customers_port, tmp_path / "customers")
    prefix = f"ivrtest:{uuid.uuid4().hex[:8]}:"
    config = tmp_path / "ivr.yaml"
    config.write_text(
        CONFIG.format(
            agents_port=agents_port,
            customers_port=customers_port,
            agents="\n".join(
                f'  - {{id: {a}, uri: "sip:60{a[1:]:0>2}@127.0.0.1:{agents_port}", '
                "queues: [helpdesk]}"
                for a in AGENTS
            ),
        )
    )
    env = {
        "REDIS_URL": shared_redis_url,
        "IVR_REDIS_KEY_PREFIX": prefix,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'tickets.db'}",
        "IVR_CACHE_DIR": str(tmp_path / "cache"),
    }
    asyncio.run(seed(shared_redis_url, prefix, agents_port))
    first = dispatcher(tmp_path, config, env, "first")
    second = dispatcher(tmp_path, config, env, "second")
    try:
        wait_until(
            lambda: asyncio.run(counts(shared_redis_url, prefix))["done"] >= CALLBACKS // 4,
            90,
            "a quarter of the callbacks done",
        )
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        wait_until(
            lambda: asyncio.run(counts(shared_redis_url, prefix))["done"] == CALLBACKS,
            180,
            "every callback done by the surviving dispatcher",
        )
    finally:
        for process in (first, second, agent_phones, customer_phones):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()

    final = asyncio.run(counts(shared_redis_url, prefix))
    assert final == {"pending": 0, "dialling": 0, "done": CALLBACKS, "failed": 0, "cancelled": 0}
    requests = asyncio.run(finished_requests(shared_redis_url, prefix))
    dispatchers = Counter(r["history"][-1]["dispatcher"] for r in requests)  # type: ignore[index]
    assert set(dispatchers) == {"first-dispatcher", "second-dispatcher"}, dispatchers
    for request in requests:
        outcomes = [attempt["outcome"] for attempt in request["history"]]  # type: ignore[attr-defined]
        assert outcomes.count("connected") == 1, f"{request['number']}: {outcomes}"

    invites = initial_invites(tmp_path / "customers" / "messages.log")
    assert set(invites) == {f"8{i:03d}" for i in range(CALLBACKS)}, "every customer was called"
    again = {number for number, count in invites.items() if count > 1}
    # Only a call the killed dispatcher had in flight may be placed again, after its lease.
    assert len(again) <= 5, f"dialled twice: {sorted(again)}"
