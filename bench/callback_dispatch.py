"""Callback queue figures: bookings per second, dispatch decisions per second, and the
time from an agent becoming available to the dispatcher's INVITE (p50/p99).

The last one runs a real dispatcher (``ivr callbacks run``) against SIPp phones:
one booking waits, the agent is set available, and the INVITE's arrival at the
agent's phone is timed. Needs Redis (REDIS_URL or 127.0.0.1:6379) and sipp.

Usage: python bench/callback_dispatch.py [--rounds 40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import redis.asyncio as aioredis

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from support.harness import free_port  # noqa: E402

from callback.line import QueueLine  # noqa: E402
from callback.requests import CallbackRequests  # noqa: E402
from ivr.agents.board import AgentBoard, AgentState  # noqa: E402
from ivr.agents.settings import AgentSettings  # noqa: E402

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def bookings_per_second(client: aioredis.Redis, count: int) -> float:
    requests = CallbackRequests(client, f"bench:{uuid.uuid4().hex[:6]}:")
    started = time.perf_counter()
    for first in range(0, count, 50):
        await asyncio.gather(
            *(
                requests.request(f"{n:06d}", "helpdesk", 1000.0 + n)
                for n in range(first, min(count, first + 50))
            )
        )
    return count / (time.perf_counter() - started)


async def decisions_per_second(client: aioredis.Redis, count: int) -> float:
    """One decision: lease a booking, claim an agent for it, give both back."""
    prefix = f"bench:{uuid.uuid4().hex[:6]}:"
    agents = tuple(AgentSettings(f"a{n}", f"a{n}", f"sip:{n}@x", ("helpdesk",)) for n in range(20))
    board = AgentBoard(client, prefix, agents)
    await board.register_agents()
    for agent in agents:
        await board.set_requested(agent.id, AgentState.AVAILABLE, True)
    requests = CallbackRequests(client, prefix)
    line = QueueLine(client, prefix)
    ids = [await requests.request(f"{n:06d}", "helpdesk", 1000.0 + n) for n in range(100)]
    started = time.perf_counter()
    request_id = ids[0]  # the head of a line of 100
    for _ in range(count):
        lease = await requests.take(request_id, "bench", 60)
        if lease is None:
            raise RuntimeError("booking not taken")
        claim = await board.claim("helpdesk", line, f"cb:{request_id}", set())
        if claim.agent_id is None:
            raise RuntimeError(f"no agent: {claim}")
        await board.finished(claim.agent_id, 0)
        await line.not_connecting("helpdesk", f"cb:{request_id}")
        await requests.untake(lease)
    return count / (time.perf_counter() - started)


def invite_times(log: Path) -> list[float]:
    text = log.read_text(errors="replace") if log.exists() else ""
    times = []
    for stamp, body in re.findall(r"-{20,} (\S+ \S+)\n(.*?)(?=\n-{20,} |\Z)", text, re.S):
        if "message received" in body and re.search(r"^INVITE sip:", body, re.M):
            times.append(datetime.fromisoformat(stamp).timestamp())
    return times


async def available_to_invite(rounds: int, workdir: Path) -> list[float]:
    sipp = shutil.which("sipp")
    if sipp is None:
        raise SystemExit("sipp is not installed")
    agents_port, customers_port = free_port(), free_port()
    phones = [
        subprocess.Popen(
            [
                sipp,
                "-sf",
                str(REPO / "tests" / "sipp" / scenario),
                "-i",
                "127.0.0.1",
                "-p",
                str(port),
                "-mp",
                str(free_port()),
                "-nostdin",
                "-nd",
                "-trace_msg",
                "-message_file",
                str(workdir / f"{name}.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, scenario, port in (
            ("agent", "uas_wait_bye.xml", agents_port),
            ("customers", "uas_answer_hang_up.xml", customers_port),
        )
    ]
    prefix = f"bench:{uuid.uuid4().hex[:6]}:"
    agent_uri = f"sip:6001@127.0.0.1:{agents_port}"
    config = workdir / "ivr.yaml"
    config.write_text(
        "dialling:\n  allow: ['^sip:\\d+@127\\.0\\.0\\.1:\\d+$']\n"
        f'agents: [{{id: a1, uri: "{agent_uri}", queues: [helpdesk]}}]\n'
        "queues: {helpdesk: {whisper: false, wrap_up_seconds: 0}}\n"
        f'callbacks: {{number_uri: "sip:{{number}}@127.0.0.1:{customers_port}"}}\n'
    )
    dispatcher = subprocess.Popen(
        [sys.executable, "-m", "ivr", "callbacks", "run", "--config", str(config)],
        cwd=workdir,
        env={
            **os.environ,
            "REDIS_URL": REDIS_URL,
            "IVR_REDIS_KEY_PREFIX": prefix,
            "IVR_SIP_LISTEN": f"127.0.0.1:{free_port()}",
            "IVR_WORKER_ID": "bench",
            "IVR_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "INFO"),
            "DATABASE_URL": f"sqlite:///{workdir / 'tickets.db'}",
        },
        stdout=(workdir / "dispatcher.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    board = AgentBoard(client, prefix, (AgentSettings("a1", "a1", agent_uri, ("helpdesk",)),))
    requests = CallbackRequests(client, prefix)
    latencies = []
    try:
        await asyncio.sleep(3)  # the dispatcher's SIP stack and subscriptions
        for n in range(rounds):
            await board.set_requested("a1", AgentState.OFFLINE, True)
            request_id = await requests.request(f"{n:04d}", "helpdesk", time.time())
            seen = len(invite_times(workdir / "agent.log"))
            await asyncio.sleep(0.3)  # the booking is due and waiting
            available_at = time.time()
            await board.set_requested("a1", AgentState.AVAILABLE, True)
            while len(invite_times(workdir / "agent.log")) <= seen:
                await asyncio.sleep(0.005)
            latencies.append(invite_times(workdir / "agent.log")[seen] - available_at)
            while (await requests.get(request_id)).state != "done":  # type: ignore[union-attr]
                await asyncio.sleep(0.05)
    finally:
        await client.aclose()
        for process in (dispatcher, *phones):
            process.terminate()
            process.wait(10)
    return latencies


async def main(rounds: int) -> None:
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        print(f"bookings per second (50 at a time): {await bookings_per_second(client, 2000):,.0f}")
        print(
            f"dispatch decisions per second (lease + claim + give back): "
            f"{await decisions_per_second(client, 1000):,.0f}"
        )
    finally:
        await client.aclose()
    with tempfile.TemporaryDirectory() as workdir:
        latencies = await available_to_invite(rounds, Path(workdir))
    ms = [1000 * x for x in latencies]
    print(
        f"agent available -> INVITE ({rounds} rounds): p50 {percentile(ms, 0.5):.1f} ms, "
        f"p99 {percentile(ms, 0.99):.1f} ms, mean {statistics.mean(ms):.1f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=40)
    asyncio.run(main(parser.parse_args().rounds))
