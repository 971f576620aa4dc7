"""The legs of a call handed between agents: a leg and its end, bridging two legs,
dialling that can be given up while it rings, and waiting for the first of several
things (used by :mod:`ivr.agents.escalation`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ivr.agents.desk_commands import DeskCommand
from ivr.agents.dialling import Dialler
from ivr.telephony.interface import Call, CallEnded


class NotReached(Exception):
    """The second line did not answer; the reason is the message."""


async def until_end(call: Call) -> None:
    while not isinstance(await call.next_event(), CallEnded):
        pass  # keys pressed while talking to agents are theirs


async def first_to_hang_up(caller: Call, agent: Call) -> bool:
    """Wait until either leg ends; True when the caller ended first."""
    caller_end = asyncio.ensure_future(until_end(caller))
    agent_end = asyncio.ensure_future(until_end(agent))
    done, pending = await asyncio.wait({caller_end, agent_end}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return caller_end in done


@dataclass(eq=False)
class Leg:
    call: Call
    agent: str | None  # None: an extension
    queue: str | None
    end: asyncio.Future[None] = field(init=False)

    def __post_init__(self) -> None:
        self.end = asyncio.ensure_future(until_end(self.call))


def connect(one: Call, other: Call) -> None:
    one.bridge(other)
    other.bridge(one)


def part(one: Call, other: Call) -> None:
    one.bridge(None)
    other.bridge(None)


_dropping: set[asyncio.Future[Any]] = set()  # dials given up while ringing, their hang-ups


async def dial_withdrawable(dialler: Dialler, uri: str, timeout: float) -> Call:
    """Dial ``uri``. Given up (cancelled) while it rings, the dial goes on to its answer
    or timeout and an answered leg is hung up then: the stack cannot withdraw a dial."""
    dial = asyncio.ensure_future(dialler.dial(uri, timeout))
    try:
        return await asyncio.shield(dial)
    except asyncio.CancelledError:
        _dropping.add(dial)
        dial.add_done_callback(_hang_up_late)
        raise


def _hang_up_late(dial: asyncio.Future[Call]) -> None:
    _dropping.discard(dial)
    if not dial.cancelled() and dial.exception() is None:
        hangup = asyncio.ensure_future(dial.result().hangup())
        _dropping.add(hangup)
        hangup.add_done_callback(_dropping.discard)


async def first_of(
    inbox: asyncio.Queue[DeskCommand] | None, *futures: asyncio.Future[Any]
) -> object:
    """The first of ``futures`` to finish, or the next command of ``inbox``."""
    waiting: set[asyncio.Future[Any]] = set(futures)
    getter = asyncio.ensure_future(inbox.get()) if inbox is not None else None
    if getter is not None:
        waiting.add(getter)
    try:
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if getter is not None and not getter.done():
            getter.cancel()
    for future in futures:
        if future in done:
            if getter is not None and getter.done() and not getter.cancelled():
                assert inbox is not None
                inbox.put_nowait(getter.result())  # taken in the same turn: kept for later
            return future
    assert getter is not None
    return getter.result()


async def cancelled(task: asyncio.Future[Any]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
