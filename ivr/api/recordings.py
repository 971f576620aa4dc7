"""``GET /api/tickets/{id}/recording``: a call's recording, from whichever node is asked.

Recordings stay on the disk of the node whose worker took the call. A worker
serves the file when it is on its own disk; otherwise it asks the worker that
took the call, at the API address that worker published in Redis (see
:mod:`ivr.workers.heartbeat`), with ``?local=1`` so the request is not passed
on again, and streams the answer back. Shared storage (the same
``storage.recordings_dir`` mounted on every node) needs no hop at all.

``GET /api/tickets/{id}/recording-link`` (same query) answers a short-lived
signed link to the recording (:mod:`ivr.api.signed_links`): what a page puts
in an ``<audio>`` element, which cannot send the bearer token.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from ivr.api.auth import LINKS, TOKENS, principal, requires
from ivr.api.signed_links import LinkSigner
from ivr.api.tickets import ticket_id_param
from ivr.api.tokens import Role
from ivr.state import keys
from ivr.tickets.json_view import iso
from ivr.tickets.model import Ticket
from ivr.tickets.store import TicketStore

log = logging.getLogger(__name__)

FETCH_TIMEOUT_SECONDS = 30.0
CHUNK_BYTES = 64 * 1024


def _error(status: type[web.HTTPException], message: str) -> web.HTTPException:
    return status(text=json.dumps({"error": message}), content_type="application/json")


class RecordingRoutes:
    def __init__(
        self,
        tickets: TicketStore,
        client: aioredis.Redis,
        prefix: str,
        recordings_dir: Path,
        links: LinkSigner,
    ) -> None:
        self._tickets = tickets
        self._links = links
        self._client = client
        self._prefix = prefix
        self._root = recordings_dir.resolve()

    async def get(self, request: web.Request) -> web.StreamResponse:
        """The call's recording; ``?callback=<request>&attempt=<n>``: that callback
        attempt's customer leg instead, as the ticket's timeline names it."""
        ticket_id = ticket_id_param(request.match_info["ticket_id"])
        ticket = await self._tickets.get(ticket_id)
        if ticket is None:
            raise _error(web.HTTPNotFound, f"no ticket {ticket_id}")
        path, worker, what = self._recording_of(request, ticket)
        return await self._serve(request, path, worker, what)

    async def link(self, request: web.Request) -> web.Response:
        """``{"url": ..., "expires_at": ...}``: a signed link to the recording ``get``
        serves for the same query; 404 when there is none."""
        ticket_id = ticket_id_param(request.match_info["ticket_id"])
        ticket = await self._tickets.get(ticket_id)
        if ticket is None:
            raise _error(web.HTTPNotFound, f"no ticket {ticket_id}")
        self._recording_of(request, ticket)
        query = {k: v for k, v in request.query.items() if k in ("callback", "attempt")}
        url, expires = await self._links.sign(
            f"/api/tickets/{ticket_id}/recording", query, principal(request)
        )
        return web.json_response(
            {"url": url, "expires_at": iso(expires)}, headers={"Cache-Control": "no-store"}
        )

    def _recording_of(self, request: web.Request, ticket: Ticket) -> tuple[Path, str, str]:
        """(file, worker that wrote it, what it is) of the recording the query asks for."""
        if "callback" in request.query:
            return self._callback_leg(request, ticket)
        if not ticket.recording_path:
            raise _error(web.HTTPNotFound, f"ticket {ticket.id} has no recording")
        return Path(ticket.recording_path), ticket.start.worker_id, f"ticket {ticket.id}"

    def _callback_leg(self, request: web.Request, ticket: Ticket) -> tuple[Path, str, str]:
        callback, attempt = request.query["callback"], request.query.get("attempt", "")
        record = next(
            (
                e.detail
                for e in ticket.events
                if e.kind == "callback_attempt"
                and e.detail.get("request") == callback
                and str(e.detail.get("attempt")) == attempt
            ),
            None,
        )
        what = f"callback {callback[:40]!r} attempt {attempt[:10]!r} of ticket {ticket.id}"
        if record is None or not record.get("recording"):
            raise _error(web.HTTPNotFound, f"{what} has no recording")
        worker = str(record.get("worker") or ticket.start.worker_id)
        return Path(str(record["recording"])), worker, what

    async def _serve(
        self, request: web.Request, path: Path, worker: str, what: str
    ) -> web.StreamResponse:
        """The file from this node, or relayed from ``worker``'s node (the same path)."""
        local = self._local_file(path)
        if local is not None:
            return web.FileResponse(local, headers={"Content-Type": "audio/wav"})
        if request.query.get("local") == "1":
            raise _error(web.HTTPNotFound, f"recording of {what} is not on this node")
        api = await self._worker_api(worker)
        if api is None:
            raise _error(
                web.HTTPNotFound,
                f"recording of {what} is on worker {worker}, whose address is unknown",
            )
        return await self._relay(request, f"{api}{request.rel_url.update_query(local='1')}")

    def _local_file(self, path: Path) -> Path | None:
        """The file when it is on this node, inside the recordings folder."""
        resolved = path.resolve()
        if not resolved.is_relative_to(self._root) or not resolved.is_file():
            return None
        return resolved

    async def _worker_api(self, worker: str) -> str | None:
        try:
            raw = await self._client.hget(keys.workers(self._prefix), worker)
        except (RedisError, OSError) as exc:
            raise _error(web.HTTPServiceUnavailable, f"Redis unreachable: {exc}") from None
        if raw is None:
            return None
        api = json.loads(raw).get("api")
        return str(api) if api else None

    async def _relay(self, request: web.Request, url: str) -> web.StreamResponse:
        timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_SECONDS)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                # The other node checks the same token: both read the same token list.
                session.get(url, headers=_passed_on(request)) as upstream,
            ):
                if upstream.status != 200:
                    raise _relay_error(upstream.status, await upstream.text(), url)
                response = web.StreamResponse(headers={"Content-Type": "audio/wav"})
                if upstream.content_length is not None:
                    response.content_length = upstream.content_length
                await response.prepare(request)
                async for chunk in upstream.content.iter_chunked(CHUNK_BYTES):
                    await response.write(chunk)
                await response.write_eof()
                return response
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("recording fetch from %s failed: %s", url.split("?")[0], exc)
            raise _error(
                web.HTTPBadGateway, f"the node with the recording did not answer: {exc}"
            ) from None


def _passed_on(request: web.Request) -> dict[str, str]:
    header = request.headers.get("Authorization")
    return {} if header is None else {"Authorization": header}


def _relay_error(status: int, body: str, url: str) -> web.HTTPException:
    """The other node's 4xx/5xx, passed on (404 stays 404, anything else is a 502)."""
    try:
        message = str(json.loads(body).get("error", body))
    except (ValueError, AttributeError):
        message = body[:200]
    if status == 404:
        return _error(web.HTTPNotFound, message)
    return _error(web.HTTPBadGateway, f"{url.split('?')[0]} answered {status}: {message}")


def add_recording_routes(
    app: web.Application,
    tickets: TicketStore,
    client: aioredis.Redis,
    prefix: str,
    recordings_dir: Path,
) -> None:
    """The recording and its signed link (after ``build_app``: links name its tokens)."""
    links = LinkSigner(client, prefix, app[TOKENS])
    app[LINKS] = links
    routes = RecordingRoutes(tickets, client, prefix, recordings_dir, links)
    read = requires(Role.VIEWER, "recording.read", signed_link=True)
    app.router.add_get("/api/tickets/{ticket_id}/recording", read(routes.get))
    link = requires(Role.VIEWER, "recording.link")
    app.router.add_get("/api/tickets/{ticket_id}/recording-link", link(routes.link))
