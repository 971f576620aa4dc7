"""``GET /api/stats``: operations figures over the tickets started in a time range."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from ivr.api.tickets import TICKETS, bad_request, time_param
from ivr.tickets.json_view import iso
from ivr.tickets.stats import TicketStats

DEFAULT_SPAN_SECONDS = 24 * 3600


def stats_json(stats: TicketStats) -> dict[str, Any]:
    return {
        "from": iso(stats.since),
        "to": iso(stats.until),
        "calls": stats.calls,
        "live": stats.live,
        "completed": stats.completed,
        "abandoned": stats.abandoned,
        "failed": stats.failed,
        "media_timeouts": stats.media_timeouts,
        "self_service": stats.self_service,
        "self_service_rate": stats.rate(stats.self_service),
        "transferred": stats.transferred,
        "transfer_rate": stats.rate(stats.transferred),
        "abandonment_rate": stats.rate(stats.abandoned),
        "media_timeout_rate": stats.rate(stats.media_timeouts),
        "reached_agent": stats.reached_agent,
        "callbacks_requested": stats.callbacks_requested,
        "callbacks_completed": stats.callbacks_completed,
        "average_speed_of_answer_seconds": stats.average_speed_of_answer,
        "queued": stats.waits,
        "wait_p50_seconds": stats.wait_p50,
        "wait_p90_seconds": stats.wait_p90,
        "satisfaction_average": stats.satisfaction_average,
        "satisfaction_responses": stats.satisfaction_responses,
        "top_intents": [{"intent": i, "calls": n} for i, n in stats.top_intents],
        "calls_per_15_minutes": [{"at": iso(at), "calls": n} for at, n in stats.calls_per_slot],
        "unrecognised_utterances": stats.unrecognised_utterances,
        "unrecognised_groups": [
            {"text": g.text, "count": g.count, "variants": list(g.variants)}
            for g in stats.unrecognised_groups
        ],
    }


async def get_stats(request: web.Request) -> web.Response:
    """``from`` (default: ``to`` minus 24 h) and ``to`` (default: now), ISO 8601 or Unix
    seconds; tickets with ``from <= started_at < to`` count."""
    unknown = sorted(set(request.query) - {"from", "to"})
    if unknown:
        raise bad_request(f"unknown parameter {unknown[0]!r} (known: from, to)")
    until = time_param(request.query, "to")
    if until is None:
        until = time.time()
    since = time_param(request.query, "from")
    if since is None:
        since = until - DEFAULT_SPAN_SECONDS
    if since > until:
        raise bad_request("from must not be after to")
    stats = await request.app[TICKETS].stats(since, until)
    return web.json_response(stats_json(stats))


def add_stats_routes(app: web.Application) -> None:
    """Needs the ticket store under :data:`ivr.api.tickets.TICKETS` (add_ticket_routes)."""
    app.router.add_get("/api/stats", get_stats)
