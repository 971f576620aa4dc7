"""``ivr helpdesk check``: does the help desk answer, and does the mapping fit it?"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping

from ivr.exceptions import IvrError
from ivr.tickets.connectors import open_connector
from ivr.tickets.connectors.settings import HelpdeskConfig


def check(config: HelpdeskConfig | None, env: Mapping[str, str], service_url: str) -> int:
    """Print what is wrong (exit 1) or that all is well (exit 0); 2 when not configured."""
    if config is None:
        print("ivr: no helpdesk section in the configuration", file=sys.stderr)
        return 2
    try:
        problems = asyncio.run(_check(config, env, service_url))
    except IvrError as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem)
    if problems:
        return 1
    rules = ", ".join(f"{_rule(r.plan, r.intent, r.queue)} -> {r.target}" for r in config.queues)
    fields = ", ".join(f"{ours} -> {theirs}" for ours, theirs in config.fields.items())
    print(f"{config.kind} at {config.url}: reachable, token accepted")
    print(f"queues: {rules or 'none'}; otherwise {config.default_queue}")
    print(f"fields: {fields or 'none'}")
    return 0


def _rule(plan: str | None, intent: str | None, queue: str | None) -> str:
    parts = (("plan", plan), ("intent", intent), ("queue", queue))
    return " ".join(f"{name}={value}" for name, value in parts if value is not None)


async def _check(config: HelpdeskConfig, env: Mapping[str, str], service_url: str) -> list[str]:
    connector = open_connector(config, env, service_url)
    try:
        return await connector.check()
    finally:
        await connector.close()
