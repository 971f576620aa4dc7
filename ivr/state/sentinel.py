"""Redis URLs, including Sentinel-managed ones.

``redis+sentinel://[:PASSWORD@]HOST:PORT[,HOST:PORT...]/SERVICE[/DB]`` asks the
listed Sentinels for the current master of ``SERVICE`` and follows a
fail-over: commands after it go to the promoted replica. Any other URL
(``redis://``, ``rediss://``, ``unix://``) is one server.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.connection import BlockingConnectionPool
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

from ivr.exceptions import ConfigError

SCHEME = "redis+sentinel"
DEFAULT_SENTINEL_PORT = 26379
# Connections one process opens at most. Every call's Redis work takes one for
# the length of a command, so hundreds of calls ending together exceed any small
# number: past it, commands wait for a free connection (the pool blocks) instead
# of failing with "Too many connections" (redis-py's default pool, 100), which
# cost a loaded worker its heartbeat and so its calls.
MAX_CONNECTIONS = 64


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """The Sentinel pool with waiting for a free connection (see MAX_CONNECTIONS)."""


def redis_client(url: str, timeout: float) -> aioredis.Redis:
    """A client for ``url`` (decoded strings, ``timeout`` seconds for connect and reply).

    Raises:
        ConfigError: a ``redis+sentinel://`` URL without hosts or service name.
    """
    if not url.startswith(f"{SCHEME}://"):
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            decode_responses=True,
        )
        return aioredis.Redis.from_pool(pool)
    parts = urlsplit(url)
    hosts = parts.netloc.rpartition("@")[2]
    sentinels = []
    for item in hosts.split(","):
        host, _, port = item.strip().rpartition(":") if ":" in item else (item, "", "")
        if not host or (port and not port.isdigit()):
            raise ConfigError(f"redis.url {_safe(url)!r}: bad sentinel address {item!r}")
        sentinels.append((host, int(port) if port else DEFAULT_SENTINEL_PORT))
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ConfigError(
            f"redis.url {_safe(url)!r}: name the Sentinel service, "
            "e.g. redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/ivr"
        )
    if len(path) > 1 and not path[1].isdigit():
        raise ConfigError(f"redis.url {_safe(url)!r}: database must be a number")
    db = int(path[1]) if len(path) > 1 else 0
    password = unquote(parts.password) if parts.password else None
    sentinel = Sentinel(  # type: ignore[no-untyped-call,unused-ignore]  # typed in newer redis-py
        sentinels, socket_timeout=timeout, socket_connect_timeout=timeout
    )
    client: aioredis.Redis = sentinel.master_for(
        path[0],
        db=db,
        password=password,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        decode_responses=True,
        connection_pool_class=_BlockingSentinelPool,
        max_connections=MAX_CONNECTIONS,
        timeout=timeout,
    )
    return client


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)
