"""The call worker: opens every resource in one place, serves, shuts down in order.

Shutdown (SIGTERM or SIGINT): refuse new calls, let live calls finish for
``shutdown_grace_seconds``, then end the rest; every call's ticket is written
before the ticket store closes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from aiohttp import web

from ivr.agents.contact_center import open_contact_center
from ivr.api.agents import add_agent_routes
from ivr.api.app import ServiceStatus, build_app
from ivr.api.callbacks import add_callback_routes
from ivr.api.dashboard import add_dashboard_routes
from ivr.api.desk import add_desk_routes
from ivr.api.desk_escalation import add_escalation_routes
from ivr.api.forecast import add_forecast_routes
from ivr.api.helpdesk import add_helpdesk_routes
from ivr.api.metrics import MeteredTicketStore, ServiceMetrics, add_metrics_routes
from ivr.api.monitor import add_monitor_routes
from ivr.api.privacy import add_privacy_routes
from ivr.api.recordings import add_recording_routes
from ivr.api.tokens import service_token_book
from ivr.config import Config
from ivr.dialplan.http_lookup import AiohttpFetcher
from ivr.dialplan.registry import PlanRegistry
from ivr.dialplan.versions import VersionArchive
from ivr.directory import EmployeeDirectory
from ivr.forecast.forecaster import Forecaster
from ivr.forecast.settings import ForecastSettings
from ivr.media.prompts import PromptLibrary
from ivr.plan_targets import service_targets
from ivr.privacy.call_files import CallFileRemover
from ivr.privacy.retention import PersonalData
from ivr.runtime.call_session import CallServices, CallSession
from ivr.speech.models import set_default_directory
from ivr.speech.startup import start_speech
from ivr.state.dialogs import DialogClaims
from ivr.state.live_calls import LiveCallRegistry
from ivr.state.redis_server import RedisConnection
from ivr.state.single_runner import SingleRunner
from ivr.tasks import OwnedTasks, cancel_and_wait
from ivr.telephony.baresip_engine import BaresipTelephony
from ivr.telephony.interface import Call
from ivr.tickets.connectors import open_connector
from ivr.tickets.connectors.base import HelpdeskConnector
from ivr.tickets.connectors.drainer import HelpdeskDrainer
from ivr.tickets.connectors.settings import HelpdeskConfig
from ivr.tickets.connectors.sync import HelpdeskSync
from ivr.tickets.spool import SpooledTicketStore
from ivr.tickets.store import TicketStore, open_store
from ivr.tickets.webhook import WebhookDrainer
from ivr.workers.heartbeat import Heartbeat, Sweeper, advertised_api

log = logging.getLogger(__name__)

PLAN_WATCH_INTERVAL_SECONDS = 2.0


def log_task_stacks() -> None:
    """SIGUSR1: log where every asyncio task is waiting (for a stuck worker)."""
    for task in asyncio.all_tasks():
        chain: list[str] = []
        awaited: Any = task.get_coro()
        while awaited is not None:
            frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
            if frame is not None:
                chain.append(f"{frame.f_code.co_qualname}:{frame.f_lineno}")
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
        log.warning("task %s waits in %s", task.get_name(), " -> ".join(chain) or "?")


class Service:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.status = ServiceStatus(worker_id=config.worker_id, started_at=time.time())
        self._stop = asyncio.Event()
        self._sessions: set[asyncio.Task[None]] = set()
        self._tasks = OwnedTasks()
        self._services: CallServices | None = None

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        config = self.config
        async with AsyncExitStack() as stack:
            webhook_url = config.tickets.webhook_url
            metrics = ServiceMetrics()
            # Writes a call or the dispatcher makes survive a database outage (spooled).
            spooled = SpooledTicketStore(
                open_store(
                    config.storage.database_url,
                    webhook_url is not None,
                    helpdesk_outbox=config.helpdesk is not None,
                ),
                config.storage.spool_dir,
                config.worker_id,
            )
            self.status.ticket_database = lambda: spooled.state
            tickets = MeteredTicketStore(spooled, metrics)
            await tickets.open()
            stack.push_async_callback(self._closing, "ticket store", tickets.close)

            redis = RedisConnection(config.redis)
            client = await redis.start()
            stack.push_async_callback(self._closing, "redis", redis.close)
            live = LiveCallRegistry(client, config.redis.key_prefix, config.worker_id)
            prefix = config.redis.key_prefix
            api = advertised_api(config.http.listen)
            heartbeat = Heartbeat(client, prefix, config.worker_id, api)
            await heartbeat.announce()
            stack.push_async_callback(heartbeat.stop)
            sweeper = Sweeper(
                client, prefix, tickets, config.worker_id, config.storage.recordings_dir
            )
            await sweeper.close_leftovers()

            prompts = PromptLibrary(config.storage.cache_dir)
            stack.callback(prompts.close)
            plans = PlanRegistry(
                config.dialplans.directory,
                config.dialplans.default_plan,
                prompts,
                VersionArchive(config.dialplans.versions_dir),
                config.dialplans.canary_percent,
                service_targets(config.contact_center, "the service configuration"),
            )
            set_default_directory(config.speech.models_dir)  # what plan validation checks
            await plans.load_all()
            needed = (plans.get(str(p["name"])) for p in plans.summary())
            speech = await start_speech(config.speech, [p for p in needed if p is not None])
            if speech is not None:
                stack.callback(speech.close)
                await plans.start_listening(speech.loaded)

            service_api = f"http://{config.http.listen}"
            api_tokens, lookup_token = service_token_book(config.api)
            fetcher = AiohttpFetcher({service_api: lookup_token})
            stack.push_async_callback(self._closing, "HTTP lookups", fetcher.close)
            telephony = BaresipTelephony(config.sip)
            center = await open_contact_center(
                config.contact_center,
                client,
                config.redis.key_prefix,
                telephony,
                prompts,
                tickets,
                self._tasks,
                stack,
                config.worker_id,
                config.storage.recordings_dir,
            )
            self._services = CallServices(
                plans=plans,
                prompts=prompts,
                tickets=tickets,
                live_calls=live,
                recordings_dir=config.storage.recordings_dir,
                worker_id=config.worker_id,
                fetcher=fetcher,
                directory=EmployeeDirectory(config.directory_csv),
                service_api=service_api,
                contact_center=center,
                speech=speech,
                dialogs=DialogClaims(client, prefix, config.worker_id),
            )
            await telephony.start(self._handle_call)
            stack.push_async_callback(self._closing, "SIP stack", telephony.close)
            if config.contact_center.callbacks.dispatcher:
                self._tasks.start(center.dispatcher.run(), "callback-dispatcher")

            helpdesk = None
            if config.helpdesk is not None:
                helpdesk = open_connector(config.helpdesk, os.environ, service_api)
                stack.push_async_callback(self._closing, "help desk connector", helpdesk.close)
            app = build_app(tickets, live, telephony, plans, self.status, api_tokens)
            if helpdesk is not None:
                add_helpdesk_routes(app, helpdesk, tickets)
            add_agent_routes(app, center.desk)
            forecast = ForecastSettings.from_contact_center(config.contact_center, config.forecast)
            forecaster = Forecaster(tickets, forecast, center.desk.board)
            center.desk.outlook = forecaster  # breaks are granted against the forecast
            add_forecast_routes(app, forecaster)
            add_callback_routes(app, center.requests)
            add_dashboard_routes(app)
            add_desk_routes(
                app,
                center.desk,
                center.desk_calls,
                tickets,
                config.privacy.mask_desk_numbers,
                center.requests,
            )
            add_escalation_routes(app, center.transfers.policy, center.commands)
            add_metrics_routes(app, metrics)
            if center.transfers.monitoring is not None:
                add_monitor_routes(app, center.transfers.monitoring)
            add_recording_routes(app, tickets, client, prefix, config.storage.recordings_dir)
            personal_data = PersonalData(
                config.privacy,
                tickets,
                CallFileRemover(config.storage.recordings_dir, config.worker_id, client, prefix),
                center.requests,
                center.desk_calls,
            )
            add_privacy_routes(app, personal_data)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            stack.push_async_callback(self._closing, "HTTP API", runner.cleanup)
            http = config.http.listen
            await web.TCPSite(runner, http.host, http.port).start()
            log.info("HTTP API on http://%s/api/health; worker %s ready", http, config.worker_id)

            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self.request_stop)
            loop.add_signal_handler(signal.SIGUSR1, log_task_stacks)
            loop.add_signal_handler(
                signal.SIGHUP, lambda: self._tasks.start(self._reload(plans, "SIGHUP"), "reload")
            )
            if config.dialplans.watch:
                self._tasks.start(self._watch_plans(plans), "plan-watcher")
            self._tasks.start(heartbeat.run(), "heartbeat")
            self._tasks.start(live.refresh_forever(), "live-call-refresh")
            self._tasks.start(spooled.run(), "ticket-spool-replay")
            self._tasks.start(sweeper.run(), "dead-worker-sweeper")
            self._tasks.start(personal_data.run(), "retention-sweep")
            if webhook_url is not None:
                # Undelivered messages stay in the outbox for the next start.
                drainer = WebhookDrainer(
                    tickets,
                    webhook_url,
                    config.tickets.webhook_timeout_seconds,
                    config.tickets.webhook_max_backoff_seconds,
                )
                self._tasks.start(drainer.run(), "ticket-webhook")
            if config.helpdesk is not None and helpdesk is not None:
                settings, connector = config.helpdesk, helpdesk
                lease = SingleRunner(client, prefix, "helpdesk", config.worker_id)
                self._tasks.start(
                    lease.run(lambda: self._helpdesk(settings, connector, tickets)), "helpdesk"
                )
            stack.push_async_callback(self._tasks.cancel_all)
            await self._stop.wait()
            await self._shut_down(telephony)

    @staticmethod
    async def _helpdesk(
        settings: HelpdeskConfig, connector: HelpdeskConnector, tickets: TicketStore
    ) -> None:
        """Our tickets to the help desk (outbox) and its changes back (polling), on the
        one worker of the cluster holding the help desk's lease."""
        drainer = HelpdeskDrainer(tickets, connector, settings.max_backoff_seconds)
        sync = HelpdeskSync(
            tickets, connector, settings.poll_interval_seconds, settings.resync_seconds
        )
        await asyncio.gather(drainer.run(), sync.run())

    @staticmethod
    async def _reload(plans: PlanRegistry, why: str) -> None:
        report = await plans.reload()
        log.info(
            "plans reloaded (%s): %d loaded, %d refused, %d removed",
            why,
            len(report.loaded),
            len(report.refused),
            len(report.removed),
        )

    async def _watch_plans(self, plans: PlanRegistry) -> None:
        while True:
            await asyncio.sleep(PLAN_WATCH_INTERVAL_SECONDS)
            if plans.changed_on_disk():
                await self._reload(plans, "file change")

    @staticmethod
    async def _closing(what: str, close: Callable[[], Awaitable[None]]) -> None:
        log.info("closing %s", what)
        await close()

    async def _handle_call(self, call: Call) -> None:
        assert self._services is not None
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            await CallSession(call, self._services).run()
        finally:
            self._sessions.discard(task)

    async def _shut_down(self, telephony: BaresipTelephony) -> None:
        grace = self.config.shutdown_grace_seconds
        log.info("stopping: refusing new calls; %d live, %.0f s grace", len(self._sessions), grace)
        self.status.accepting_calls = False
        await telephony.stop_accepting()
        if self._sessions:
            _, still_live = await asyncio.wait(set(self._sessions), timeout=grace)
            if still_live:
                log.warning("grace period over: ending %d live calls", len(still_live))
                await cancel_and_wait(still_live)
        log.info("stopped")
