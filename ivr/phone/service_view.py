"""What the service says about a call the phone placed: the node playing, the ticket.

Two ways in, both from the config the phone loaded:

- :class:`ApiView`, with an API token (``$IVR_API_TOKEN``): ``GET /api/calls``
  and ``GET /api/tickets/...`` on ``http.listen``.
- :class:`LocalView`, without one (``make run`` configures no token): the live
  call's entry in the service's Redis (``redis.url``, or the embedded server's
  address file) and the ticket store (``storage.database_url``), read only.

The phone knows its call by the SIP Call-ID, which the service keys both by.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from redis.exceptions import RedisError

from ivr.config import Config
from ivr.exceptions import IvrError
from ivr.state import keys
from ivr.state.redis_server import embedded_redis_url
from ivr.state.sentinel import redis_client
from ivr.tickets.json_view import ticket_json
from ivr.tickets.model import TicketQuery
from ivr.tickets.store import TicketStore, open_store

REQUEST_SECONDS = 3.0
# A ticket's start lies a little before the phone saw its call answered.
TICKET_START_SLACK_SECONDS = 30.0


class ServiceViewError(IvrError):
    """The service's state could not be read (the message says where and why)."""


@dataclass(frozen=True)
class LiveState:
    plan: str
    node: str  # "" before the first node; "<plan>/<node>" inside a goto sub-flow
    ticket_id: int  # 0 while the ticket is not written yet


class ServiceView(Protocol):
    where: str  # what it reads, for messages

    async def live(self, call_id: str) -> LiveState | None:
        """The call's live state; None when the service has no such live call.
        Raises ServiceViewError."""

    async def ticket(self, call_id: str, ticket_id: int, since: float) -> dict[str, Any] | None:
        """The call's ticket as the API shows it; ``ticket_id`` 0 searches the tickets
        started after ``since`` (Unix seconds). None when there is none. Raises
        ServiceViewError."""

    async def close(self) -> None: ...


def choose_view(config: Config, api_token: str | None) -> ServiceView:
    """The API with a token, else the service's own stores."""
    if api_token:
        listen = config.http.listen
        host = "127.0.0.1" if listen.host in ("0.0.0.0", "") else listen.host
        return ApiView(f"http://{host}:{listen.port}", api_token)
    return LocalView(config)


class ApiView:
    def __init__(self, base_url: str, token: str) -> None:
        self.where = f"the API at {base_url}"
        self._base = base_url
        self._headers = {"Authorization": f"Bearer {token}"}
        self._session: aiohttp.ClientSession | None = None

    async def _get(self, path: str) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=REQUEST_SECONDS), headers=self._headers
            )
        try:
            async with self._session.get(f"{self._base}{path}") as response:
                if response.status == 404:
                    return None
                body = await response.text()
                if response.status != 200:
                    reason = _api_error(body) or response.reason
                    raise ServiceViewError(f"{self.where}: GET {path} {response.status} {reason}")
                return json.loads(body)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            detail = str(exc) or type(exc).__name__
            raise ServiceViewError(f"{self.where} did not answer: {detail}") from exc

    async def live(self, call_id: str) -> LiveState | None:
        body = await self._get("/api/calls")
        for call in (body or {}).get("calls", []):
            if call.get("call_id") == call_id:
                return LiveState(
                    plan=str(call.get("plan", "")),
                    node=str(call.get("node", "")),
                    ticket_id=int(call.get("ticket_id") or 0),
                )
        return None

    async def ticket(self, call_id: str, ticket_id: int, since: float) -> dict[str, Any] | None:
        if not ticket_id:
            found = await self._get(
                f"/api/tickets?since={since - TICKET_START_SLACK_SECONDS:.3f}&limit=100"
            )
            rows = (found or {}).get("tickets", [])
            ticket_id = next((int(t["id"]) for t in rows if t.get("call_id") == call_id), 0)
            if not ticket_id:
                return None
        ticket: dict[str, Any] | None = await self._get(f"/api/tickets/{ticket_id}")
        return ticket

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _api_error(body: str) -> str:
    try:
        return str(json.loads(body).get("error", ""))
    except (ValueError, AttributeError):
        return ""


class LocalView:
    def __init__(self, config: Config) -> None:
        self._config = config
        self._redis_url = config.redis.url or embedded_redis_url(config.redis)
        self._redis = redis_client(self._redis_url, REQUEST_SECONDS) if self._redis_url else None
        self._store: TicketStore | None = None
        database = config.storage.database_url.split("@")[-1]  # no password in messages
        redis = "redis.url" if config.redis.url else f"embedded, {config.redis.embedded_data_dir}"
        self.where = f"the service's Redis ({redis}) and ticket store ({database})"

    async def live(self, call_id: str) -> LiveState | None:
        if self._redis is None:
            raise ServiceViewError(
                f"no embedded Redis runs from {self._config.redis.embedded_data_dir} "
                "(is the service running, from this folder and config?)"
            )
        try:
            row = await self._redis.hgetall(keys.live_call(self._config.redis.key_prefix, call_id))
        except (RedisError, OSError) as exc:
            raise ServiceViewError(f"Redis at {self._redis_url} did not answer: {exc}") from exc
        if not row:
            return None
        return LiveState(
            plan=str(row.get("plan", "")),
            node=str(row.get("node", "")),
            ticket_id=int(row.get("ticket_id") or 0),
        )

    async def ticket(self, call_id: str, ticket_id: int, since: float) -> dict[str, Any] | None:
        try:
            if self._store is None:
                self._store = open_store(self._config.storage.database_url)
                await self._store.open()
            if not ticket_id:
                query = TicketQuery(since=since - TICKET_START_SLACK_SECONDS, limit=100)
                rows = await self._store.search(query)
                ticket_id = next((t.id for t in rows if t.start.call_id == call_id), 0)
                if not ticket_id:
                    return None
            ticket = await self._store.get(ticket_id)
        except IvrError as exc:
            raise ServiceViewError(f"ticket store: {exc}") from exc
        return None if ticket is None else ticket_json(ticket, with_events=False)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
        if self._store is not None:
            await self._store.close()
