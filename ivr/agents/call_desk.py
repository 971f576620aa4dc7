"""What the agent's desk and the CRM screen pop see of one caller being transferred:
ringing (with the pop), missed, connected, ended."""

from __future__ import annotations

import time

from ivr.agents.desk_calls import DeskCalls, journal_pop
from ivr.agents.screen_pop import ScreenPop
from ivr.telephony.interface import Call
from ivr.tickets.model import CallJournal


class CallOnDesk:
    def __init__(
        self,
        call: Call,
        journal: CallJournal,
        ticket_id: int | None,
        desk_calls: DeskCalls | None,
        screen_pop: ScreenPop,
    ) -> None:
        self._call = call
        self._journal = journal
        self._ticket_id = ticket_id
        self._desk_calls = desk_calls
        self._screen_pop = screen_pop

    async def ringing(
        self, agent_id: str, queue: str, joined: float, escalated: dict[str, object] | None
    ) -> None:
        if self._desk_calls is None:
            return
        pop = journal_pop(self._journal, self._ticket_id, self._call.info.caller_number, queue)
        pop["waited_seconds"] = round(time.time() - joined, 1)
        if escalated is not None:
            pop["escalated"] = escalated
        await self._desk_calls.ringing(agent_id, self._call.info.call_id, pop)

    async def missed(self, agent_id: str) -> None:
        if self._desk_calls is not None:
            await self._desk_calls.missed(agent_id, self._call.info.call_id)

    async def phase(self, agent_id: str | None, connected: bool) -> None:
        if self._desk_calls is None or agent_id is None:
            return
        if connected:
            await self._desk_calls.connected(agent_id, self._call.info.call_id)
        else:
            await self._desk_calls.ended(agent_id, self._call.info.call_id)

    def pop(self, agent_id: str | None) -> None:
        """The screen pop to the configured CRM URL (sent in the background)."""
        variables = self._journal.variables
        self._screen_pop.send(
            {
                "ticket_id": self._ticket_id,
                "call_id": self._call.info.call_id,
                "caller_number": self._call.info.caller_number,
                "employee_id": variables.get("employee_id"),
                "employee_name": variables.get("employee_name"),
                "department": variables.get("department"),
                "intent": self._journal.handling.intent,
                "queue": self._journal.handling.queue,
                "agent_id": agent_id,
            }
        )
