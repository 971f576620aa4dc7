"""Commands from an agent's desk to the call they are on, across workers and nodes.

The desk's API may be served by any worker of any node; the call lives on one
worker. The API publishes the command on one Redis channel; every worker listens,
and the one carrying the call (it registered a listener for the call id while the
agent talks to the caller) carries it out and writes its answer under the
command's id, which the API waits for (at most ``ANSWER_SECONDS``). Nobody
answering means no worker holds that call in conversation any more.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ivr.state import keys

log = logging.getLogger(__name__)

ANSWER_SECONDS = 3.0
ANSWER_POLL_SECONDS = 0.05
ANSWER_TTL_SECONDS = 60
RESUBSCRIBE_SECONDS = 2.0
ACTIONS = ("blind", "consult", "complete", "cancel")


@dataclass(frozen=True)
class DeskCommand:
    call: str  # the caller's call id
    agent: str  # the agent who asks (must be the one talking to the caller)
    action: str  # one of ACTIONS
    queue: str = ""  # the escalation's target: a queue,
    extension: str = ""  # or an extension (already checked against the dialling policy)
    actor: str = ""  # who sent it (the token's name), for the ticket
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def target(self) -> str:
        return self.queue or self.extension


def _command(text: str) -> DeskCommand | None:
    try:
        raw = json.loads(text)
        return DeskCommand(**{k: str(v) for k, v in raw.items()})
    except (ValueError, TypeError):
        log.warning("malformed desk command ignored: %.200s", text)
        return None


class DeskCommands:
    """The channel, shared by the API (``send``) and the calls (``listening``, ``answer``)."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._channel = keys.desk_commands(prefix)
        self._inboxes: dict[str, asyncio.Queue[DeskCommand]] = {}

    @contextmanager
    def listening(self, call: str) -> Iterator[asyncio.Queue[DeskCommand]]:
        """The commands for ``call`` arrive on the queue yielded, while inside."""
        inbox: asyncio.Queue[DeskCommand] = asyncio.Queue()
        self._inboxes[call] = inbox
        try:
            yield inbox
        finally:
            if self._inboxes.get(call) is inbox:
                del self._inboxes[call]

    async def answer(self, command: DeskCommand, body: dict[str, Any]) -> None:
        """The worker's answer to ``command`` (``{"ok": bool, ...}``); best effort."""
        try:
            await self._client.set(
                keys.desk_command_answer(self._prefix, command.id),
                json.dumps(body),
                ex=ANSWER_TTL_SECONDS,
            )
        except (RedisError, OSError) as exc:
            log.warning("desk command %s not answered: %s", command.action, exc)

    async def send(
        self, command: DeskCommand, wait_seconds: float = ANSWER_SECONDS
    ) -> dict[str, Any] | None:
        """Publish ``command`` and wait for the answer of the worker carrying the call;
        None when none answered in ``wait_seconds``. Raises RedisError or OSError."""
        await self._client.publish(self._channel, json.dumps(asdict(command)))
        key = keys.desk_command_answer(self._prefix, command.id)
        deadline = asyncio.get_running_loop().time() + wait_seconds
        while asyncio.get_running_loop().time() < deadline:
            text = await self._client.get(key)
            if text is not None:
                answer: dict[str, Any] = json.loads(text)
                return answer
            await asyncio.sleep(ANSWER_POLL_SECONDS)
        return None

    def _deliver(self, text: str) -> None:
        command = _command(text)
        if command is not None and command.call in self._inboxes:
            self._inboxes[command.call].put_nowait(command)

    async def run(self) -> None:
        """Listen until cancelled; resubscribe after a Redis outage."""
        while True:
            try:
                async with self._client.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=1.0
                        )
                        if message is not None and message.get("type") == "message":
                            self._deliver(str(message["data"]))
            except (RedisError, OSError) as exc:
                log.warning("desk commands unavailable (%s); retrying", exc)
                await asyncio.sleep(RESUBSCRIBE_SECONDS)
