"""Most valuable first (issue 22, item 3): when an agent frees up and no live caller
waits, the dispatcher dials the waiting callback the value rule (``callbacks.value``)
puts first, and ``why_now`` says why.

A real Redis, the real booking (``CallbackBooking``: a VIP from the employee
directory's CSV, the call's intent, the place the caller had in the queue), the real
dispatcher and agent board with one agent; only the telephony is a stand-in, which
records whom it was asked to call back (placing real calls is tested in
test_callback_dispatch.py and test_callbacks.py).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from callback.dispatch_settings import DispatchSettings
from callback.dispatcher import (
    Attempt,
    AttemptEvent,
    CallLedger,
    Dispatcher,
)
from callback.line import QueueLine
from callback.requests import CallbackRequest, CallbackRequests
from callback.value import ValueRule
from ivr.agents.board import AgentBoard, AgentState
from ivr.agents.callback_agents import BoardAgents
from ivr.agents.callback_booking import CallbackBooking
from ivr.agents.dialling import DialPolicy
from ivr.agents.queues import QueueDesk
from ivr.agents.settings import AgentSettings, CallbackSettings, DiallingSettings, QueueSettings
from ivr.agents.wakeups import AgentWakeups
from ivr.api.callbacks import why_now
from ivr.directory import EmployeeDirectory
from ivr.tasks import OwnedTasks
from ivr.tickets.model import CallJournal

QUEUE = "helpdesk"
AGENT = "a1"
HOUR_SECONDS = 3600.0
STEP_SECONDS = 10.0  # how long each wait for the dispatcher may take at most
DIRECTORY = """number,employee_id,name,department,vip
5550101,E101,Ann Plain,Finance,no
5550102,E102,Victor Vip,Board,yes
5550103,E103,Carl Plain,Sales,no
5550104,E104,Dora Plain,Sales,no
"""


class StandInTelephony:
    """The dispatcher's ``Connector``: writes the call ahead as the real one does, says
    whom it was asked to call (``dialled``), and answers with the outcome scripted
    for that number's attempt (else connected). The agent it was given stays reserved
    until the test frees them: each free agent is one turn of the line."""

    def __init__(self, line: QueueLine, outcomes: Mapping[str, list[str]]) -> None:
        self._line = line
        self._outcomes = {number: list(listed) for number, listed in outcomes.items()}
        self.dialled: asyncio.Queue[str] = asyncio.Queue()

    async def call_back(
        self, request: CallbackRequest, agent_id: str, mode: str, ledger: CallLedger
    ) -> Attempt:
        assert await ledger.dialling(), "the write ahead was refused"
        self.dialled.put_nowait(request.number)
        scripted = self._outcomes.get(request.number, [])
        outcome = scripted.pop(0) if scripted else "connected"
        if outcome == "connected":
            ledger.connected(f"call-{request.id}-{request.attempts + 1}")
            await self._line.leave(request.queue, request.entry)
        else:
            await self._line.not_connecting(request.queue, request.entry)
        return Attempt(outcome, agent_id=agent_id)


class RecordedAttempts:
    """The dispatcher's journal: each recorded attempt, as an event to wait on."""

    def __init__(self) -> None:
        self.recorded: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def attempt(
        self,
        request: CallbackRequest,
        record: dict[str, object],
        events: tuple[AttemptEvent, ...] = (),
    ) -> bool:
        self.recorded.put_nowait((request.number, str(record.get("state"))))
        return True

    async def dialling(self, request: CallbackRequest, record: Mapping[str, object]) -> None:
        return None


@dataclass
class HelpDesk:
    """One queue with one agent (signed out at first), its callbacks and a running
    dispatcher."""

    requests: CallbackRequests
    board: AgentBoard
    telephony: StandInTelephony
    attempts: RecordedAttempts
    book: Callable[..., Awaitable[str]]
    dispatcher: Dispatcher
    # When the first of the test's callers joined the queue: an hour before the test.
    first_joined: float = field(default_factory=lambda: time.time() - HOUR_SECONDS)

    async def agent_frees_up(self) -> None:
        """The agent signs in, or ends the callback they were given."""
        if (await self.board.view(AGENT)).state is AgentState.OFFLINE:
            await self.board.set_requested(AGENT, AgentState.AVAILABLE, True)
        else:
            await self.board.finished(AGENT, 0)

    async def next_dialled(self) -> str:
        return await asyncio.wait_for(self.telephony.dialled.get(), STEP_SECONDS)

    async def next_recorded(self) -> tuple[str, str]:
        return await asyncio.wait_for(self.attempts.recorded.get(), STEP_SECONDS)

    async def why_now(self, request_id: str) -> str:
        """The request's reasons as the desk shows them while it waits."""
        request = await self.requests.get(request_id)
        assert request is not None
        return why_now(request, time.time())


@pytest.fixture
async def client(shared_redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(shared_redis_url, decode_responses=True)
    yield client
    await client.aclose()


HelpDeskFactory = Callable[..., AbstractAsyncContextManager[HelpDesk]]


@pytest.fixture
def help_desk(client: aioredis.Redis, tmp_path: Path) -> HelpDeskFactory:
    """``help_desk(rule, outcomes)``: the help desk with ``callbacks.value`` = ``rule``,
    its telephony answering each number's attempts with ``outcomes[number]`` in turn."""

    @asynccontextmanager
    async def start(
        rule: ValueRule, outcomes: Mapping[str, list[str]] | None = None
    ) -> AsyncIterator[HelpDesk]:
        prefix = f"ivrtest:value:{uuid.uuid4().hex[:8]}:"
        directory_csv = tmp_path / "directory.csv"
        directory_csv.write_text(DIRECTORY, encoding="utf-8")
        directory = EmployeeDirectory(directory_csv)
        agent = AgentSettings(AGENT, "Agent One", "sip:6001@pbx", (QUEUE,))
        board = AgentBoard(client, prefix, (agent,))
        await board.register_agents()
        line = QueueLine(client, prefix)
        desk = QueueDesk(board, line, {QUEUE: QueueSettings(QUEUE, wrap_up_seconds=0)})
        requests = CallbackRequests(client, prefix)
        dispatch = DispatchSettings(backoff_seconds=(0.0,), poll_seconds=0.5, value=rule)
        settings = CallbackSettings(number_uri="sip:{number}@pbx", dispatch=dispatch)
        policy = DialPolicy(DiallingSettings(allow=(re.compile(r"^sip:\d+@pbx$"),)))

        async def book(number: str, joined: float, intent: str = "") -> str:
            """The caller from ``number``, in the queue since ``joined``, books a
            callback; the directory says who they are."""
            journal = CallJournal()
            employee = directory.by_number(number)
            if employee is not None:
                journal.identified(employee.as_variables(), by="number")
            journal.handling.intent = intent or None
            journal.event("queued", queue=QUEUE, place=joined)
            booking = CallbackBooking(requests, desk, policy, settings, journal, None)
            return await booking.book(QUEUE, number, not_before=0.0)

        telephony = StandInTelephony(line, outcomes or {})
        attempts = RecordedAttempts()
        wakeups = AgentWakeups(client, prefix)
        dispatcher = Dispatcher(
            requests,
            BoardAgents(board, line),
            telephony,
            dispatch,
            wakeup=wakeups,
            name="value-test-dispatcher",
            journal=attempts,
        )
        tasks = OwnedTasks()
        tasks.start(wakeups.run(), "agent-wakeups")
        tasks.start(dispatcher.run(), "callback-dispatcher")
        try:
            yield HelpDesk(requests, board, telephony, attempts, book, dispatcher)
        finally:
            await tasks.cancel_all()

    return start


VIP_FIRST = ValueRule(vip_seconds=600)


@pytest.mark.parametrize(
    ("rule", "order"),
    [
        (VIP_FIRST, ["5550102", "5550101", "5550103"]),
        (ValueRule(), ["5550101", "5550102", "5550103"]),  # no rule: order of arrival
    ],
    ids=["vip_seconds-600", "no-rule"],
)
async def test_a_vip_booked_later_is_called_back_before_callers_who_booked_earlier(
    help_desk: HelpDeskFactory, rule: ValueRule, order: list[str]
) -> None:
    async with help_desk(rule) as desk:
        await desk.book("5550101", desk.first_joined)  # Ann
        victor = await desk.book("5550102", desk.first_joined + 120)  # a VIP, 2 min later
        await desk.book("5550103", desk.first_joined + 180)  # Carl
        if rule.vip_seconds:
            assert (await desk.why_now(victor)).startswith("VIP +600 s, waited 5")
        else:
            assert (await desk.why_now(victor)).startswith("waited 5")

        dialled = []
        for _ in order:
            await desk.agent_frees_up()
            dialled.append(await desk.next_dialled())
            assert await desk.next_recorded() == (dialled[-1], "done")
    assert dialled == order


async def test_an_intent_weighed_by_the_rule_is_called_back_first(
    help_desk: HelpDeskFactory,
) -> None:
    rule = ValueRule(intent_seconds={"password_reset": 120, "printer": 0})
    async with help_desk(rule) as desk:
        await desk.book("5550101", desk.first_joined, intent="printer")
        await desk.book("5550103", desk.first_joined + 60, intent="printer")
        locked_out = await desk.book("5550104", desk.first_joined + 90, intent="password_reset")
        assert (await desk.why_now(locked_out)).startswith("password_reset +120 s, waited ")

        dialled = []
        for _ in range(3):
            await desk.agent_frees_up()
            dialled.append(await desk.next_dialled())
            await desk.next_recorded()
    # 90 s later, but 120 s of value: ahead of both.
    assert dialled == ["5550104", "5550101", "5550103"]


@pytest.mark.parametrize(
    ("per_failed_attempt_seconds", "after_the_failure"),
    [(60.0, "5550101"), (0.0, "5550103")],
    ids=["per_failed_attempt_seconds-60", "no-rule"],
)
async def test_a_failed_attempt_moves_the_callback_up_the_line(
    help_desk: HelpDeskFactory, per_failed_attempt_seconds: float, after_the_failure: str
) -> None:
    rule = ValueRule(per_failed_attempt_seconds=per_failed_attempt_seconds)
    async with help_desk(rule, {"5550101": ["no_answer"]}) as desk:
        ann = await desk.book("5550101", desk.first_joined)
        await desk.agent_frees_up()
        assert await desk.next_dialled() == "5550101"
        assert await desk.next_recorded() == ("5550101", "pending")  # she did not answer
        # Carl had waited in the queue 30 s longer before he booked, after her attempt.
        await desk.book("5550103", desk.first_joined - 30)
        reasons = await desk.why_now(ann)
        bonus = " +60 s" if per_failed_attempt_seconds else ""
        assert reasons.startswith(f"1 failed attempt{bonus} (last: no_answer), waited ")

        await desk.agent_frees_up()
        assert await desk.next_dialled() == after_the_failure


async def test_a_callback_waiting_for_an_agent_is_not_taken_up_meanwhile(
    help_desk: HelpDeskFactory,
) -> None:
    """No agent free: the dispatcher's rounds leave the request alone (taking its lease
    and giving it back showed it as being dialled for a moment every round)."""
    async with help_desk(ValueRule()) as desk:
        ann = await desk.book("5550101", desk.first_joined)
        for _ in range(3):
            assert await desk.dispatcher.dispatch_once() == 0
        request = await desk.requests.get(ann)
        assert request is not None
        assert (request.state, request.lease_generation) == ("pending", 0)
        await desk.agent_frees_up()
        assert await desk.next_dialled() == "5550101"
