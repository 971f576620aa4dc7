"""Callback dispatchers (``ivr callbacks run``) sharing 200 callbacks through Redis, one
killed with SIGKILL half-way: nothing lost, nobody dialled twice at once.

Agents and customers are SIPp phones: the agents' phone answers and waits for the
service to hang up; the customers' phone answers, talks a second and hangs up.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid
from collections import Counter
from pathlib import Path

from support.callbacks import bookings, counts, seed, start_dispatcher, write_config
from support.harness import free_port, wait_until
from support.sipp import answering_phone, new_calls

CALLBACKS = 200
AGENTS = [f"a{n}" for n in range(1, 11)]


def test_a_killed_dispatcher_loses_nothing_and_nobody_is_dialled_twice_at_once(
    shared_redis_url: str, tmp_path: Path
) -> None:
    agents_port, customers_port = free_port(), free_port()
    agent_phones = answering_phone("uas_wait_bye.xml", agents_port, tmp_path / "agents")
    customer_phones = answering_phone(
        "uas_answer_hang_up.xml", customers_port, tmp_path / "customers"
    )
    prefix = f"ivrtest:{uuid.uuid4().hex[:8]}:"
    config = write_config(tmp_path / "ivr.yaml", AGENTS, agents_port, customers_port)
    env = {
        "REDIS_URL": shared_redis_url,
        "IVR_REDIS_KEY_PREFIX": prefix,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'tickets.db'}",
        "IVR_CACHE_DIR": str(tmp_path / "cache"),
    }
    numbers = [f"8{index:03d}" for index in range(CALLBACKS)]
    asyncio.run(seed(shared_redis_url, prefix, AGENTS, agents_port, [(n, 0) for n in numbers]))
    first = start_dispatcher(tmp_path, config, env, "first")
    second = start_dispatcher(tmp_path, config, env, "second")
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
    requests = asyncio.run(bookings(shared_redis_url, prefix))
    dispatchers = Counter(r.history[-1]["dispatcher"] for r in requests)
    assert set(dispatchers) == {"first-dispatcher", "second-dispatcher"}, dispatchers
    for request in requests:
        outcomes = [attempt["outcome"] for attempt in request.history]
        assert outcomes.count("connected") == 1, f"{request.number}: {outcomes}"

    invites = new_calls(tmp_path / "customers" / "messages.log")
    assert set(invites) == set(numbers), "every customer was called"
    again = {number for number, count in invites.items() if count > 1}
    # Only a call the killed dispatcher had in flight may be placed again, after its lease.
    assert len(again) <= 5, f"dialled twice: {sorted(again)}"
