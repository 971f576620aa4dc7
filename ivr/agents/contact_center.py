"""Agents, queues and callbacks, opened once per process and shared by every call.

The service opens it beside its SIP stack; ``ivr callbacks run`` opens it for a
dispatcher alone.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import RedisError

from callback.dispatcher import Dispatcher
from callback.line import QueueLine
from callback.requests import CallbackRequests
from ivr.agents.board import AgentBoard
from ivr.agents.callback_agents import BoardAgents
from ivr.agents.callback_booking import CallbackBooking, TicketAttempts
from ivr.agents.callback_calls import CallbackConnector
from ivr.agents.callback_legs import LegRecordings, LiveCallLines
from ivr.agents.desk_calls import DeskCalls
from ivr.agents.desk_commands import DeskCommands
from ivr.agents.dialling import DialCounters, Dialler, DialPolicy, PolicedDialler
from ivr.agents.monitor import Monitoring
from ivr.agents.orphans import OrphanedAgents
from ivr.agents.phone_login import AgentPhoneLogin
from ivr.agents.presence import AgentProbe, PresenceDialler
from ivr.agents.queues import QueueDesk
from ivr.agents.screen_pop import ScreenPop
from ivr.agents.settings import ContactCenterSettings
from ivr.agents.transfer import Speech, TransferServices
from ivr.agents.wakeups import AgentWakeups
from ivr.tasks import OwnedTasks
from ivr.tickets.model import CallJournal
from ivr.tickets.store import TicketStore

log = logging.getLogger(__name__)

HELD_BREAK_CHECK_SECONDS = 2.0


@dataclass(frozen=True)
class ContactCenter:
    settings: ContactCenterSettings
    transfers: TransferServices
    requests: CallbackRequests
    dispatcher: Dispatcher
    desk_calls: DeskCalls  # what each agent's desk shows of their call
    commands: DeskCommands  # desks' escalations, carried out by the worker of the call
    phone_login: AgentPhoneLogin | None = None  # agents calling from their extension

    @property
    def desk(self) -> QueueDesk:
        return self.transfers.desk

    def booking(self, journal: CallJournal, ticket_id: int | None) -> CallbackBooking:
        return CallbackBooking(
            self.requests,
            self.desk,
            self.transfers.policy,
            self.settings.callbacks,
            journal,
            ticket_id,
        )


async def open_contact_center(
    settings: ContactCenterSettings,
    client: Redis,
    prefix: str,
    dialler: Dialler,
    speech: Speech,
    tickets: TicketStore,
    tasks: OwnedTasks,
    stack: AsyncExitStack,
    worker_id: str,
    recordings_dir: Path | None = None,
) -> ContactCenter:
    """Build it and start its background work (owned by ``tasks``). Callback legs are
    recorded under ``recordings_dir`` (None: not recorded)."""
    board = AgentBoard(client, prefix, settings.agents)
    try:
        await board.register_agents()
    except (RedisError, OSError) as exc:
        log.warning("agents not registered in Redis yet (%s); they start offline", exc)
    line = QueueLine(client, prefix)
    desk = QueueDesk(board, line, settings.queues)
    wakeups = AgentWakeups(client, prefix)
    tasks.start(wakeups.run(), "agent-wakeups")
    screen_pop = ScreenPop(settings.screen_pop_url)
    stack.push_async_callback(screen_pop.close)
    policy = DialPolicy(settings.dialling, DialCounters(client, prefix))
    dialler = PolicedDialler(dialler, policy)  # every dial below passes the limits
    # a dial to an agent's phone that says it is not there takes the agent offline
    dialler = PresenceDialler(dialler, board, settings.agents)
    phone = settings.phone
    if phone.probe_interval_seconds > 0 and settings.agents:
        probe = AgentProbe(
            board,
            client,
            prefix,
            worker_id,
            phone.probe_interval_seconds,
            phone.probe_timeout_seconds,
        )
        tasks.start(probe.run(), "agent-probe")
    requests = CallbackRequests(client, prefix)
    lines = LiveCallLines(client, prefix)
    desk_calls = DeskCalls(client, prefix)
    tasks.start(_grant_held_breaks(desk), "held-breaks")
    commands = DeskCommands(client, prefix)
    tasks.start(commands.run(), "desk-commands")
    tasks.start(OrphanedAgents(board, requests, client, prefix).run(), "orphaned-agents")
    dispatcher = Dispatcher(
        requests,
        BoardAgents(board, line, desk),
        CallbackConnector(
            board,
            line,
            dict(settings.queues),
            dialler,
            policy,
            speech,
            settings.callbacks.number_uri,
            settings.callbacks.ring_timeout_seconds,
            settings.callbacks.key_wait_seconds,
            lines=lines,
            recordings=LegRecordings(recordings_dir, tickets) if recordings_dir else None,
            desk_calls=desk_calls,
        ),
        settings.callbacks.dispatch,
        wakeup=wakeups,
        name=f"{worker_id}-dispatcher",
        journal=TicketAttempts(tickets, worker_id),
        lines=lines,
    )
    log.info("%d agents, queues: %s", len(settings.agents), ", ".join(settings.queues) or "none")
    # Supervisors' phones are dialled like agents': through the policy and its limits.
    monitoring = Monitoring(dialler, policy, client, prefix, worker_id, tickets)
    stack.push_async_callback(monitoring.close)
    return ContactCenter(
        settings,
        TransferServices(
            desk,
            wakeups,
            dialler,
            policy,
            speech,
            screen_pop,
            desk_calls,
            monitoring=monitoring,
            commands=commands,
        ),
        requests,
        dispatcher,
        desk_calls,
        commands,
        AgentPhoneLogin(phone, desk, speech, tickets),
    )


async def _grant_held_breaks(desk: QueueDesk) -> None:
    while True:
        await asyncio.sleep(HELD_BREAK_CHECK_SECONDS)
        try:
            for agent_id in await desk.grant_held_breaks():
                log.info("agent %s: held break granted", agent_id)
        except (RedisError, OSError) as exc:
            log.debug("held breaks not checked: %s", exc)
