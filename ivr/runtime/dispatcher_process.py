"""``ivr callbacks run``: a callback dispatcher alone, with its own SIP stack for dialling.

It shares agents, queues and callbacks with the call workers through Redis and
writes attempts into the same ticket database. Inbound calls to its SIP address
are refused. Several may run at once: leases keep them from dialling the same
callback, and a killed one's callbacks are taken up after their lease expires.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack

from ivr.agents.contact_center import open_contact_center
from ivr.config import Config
from ivr.forecast.forecaster import Forecaster
from ivr.forecast.settings import ForecastSettings
from ivr.media.prompts import PromptLibrary
from ivr.state.redis_server import RedisConnection
from ivr.tasks import OwnedTasks
from ivr.telephony.baresip_engine import BaresipTelephony
from ivr.telephony.interface import Call
from ivr.tickets.spool import SpooledTicketStore
from ivr.tickets.store import open_store

log = logging.getLogger(__name__)


async def _refuse(call: Call) -> None:
    await call.hangup()


async def run_dispatcher(config: Config) -> None:
    stop = asyncio.Event()
    tasks = OwnedTasks()
    async with AsyncExitStack() as stack:
        # Attempts it writes survive a database outage, as the workers' writes do.
        tickets = SpooledTicketStore(
            open_store(config.storage.database_url),
            config.storage.spool_dir,
            config.worker_id,
        )
        await tickets.open()
        stack.push_async_callback(tickets.close)
        redis = RedisConnection(config.redis)
        client = await redis.start()
        stack.push_async_callback(redis.close)
        prompts = PromptLibrary(config.storage.cache_dir)
        stack.callback(prompts.close)
        telephony = BaresipTelephony(config.sip)
        center = await open_contact_center(
            config.contact_center,
            client,
            config.redis.key_prefix,
            telephony,
            prompts,
            tickets,
            tasks,
            stack,
            config.worker_id,
            config.storage.recordings_dir,
        )
        # Callbacks are paced into the forecast's valleys, as in the call workers.
        forecast = ForecastSettings.from_contact_center(config.contact_center, config.forecast)
        center.desk.outlook = Forecaster(tickets, forecast, center.desk.board)
        await telephony.start(_refuse)
        stack.push_async_callback(telephony.close)
        stack.push_async_callback(tasks.cancel_all)
        tasks.start(center.dispatcher.run(), "callback-dispatcher")
        tasks.start(tickets.run(), "ticket-spool-replay")
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        log.info(
            "callback dispatcher %s running (SIP %s)", center.dispatcher.name, config.sip.listen
        )
        await stop.wait()
        log.info("callback dispatcher stopping; callbacks being dialled return after their lease")
