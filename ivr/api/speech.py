"""``GET /api/speech/suggestions``: what callers said that menus did not take, grouped
by meaning, with the intent each group is nearest to (see :mod:`ivr.speech.suggest`).

It reads the tickets started in the window and scores against the plan versions in
service (not a canary). Grouping runs the sentence encoder: off the event loop.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from ivr.api.tickets import TICKETS, bad_request, time_param
from ivr.dialplan.registry import PlanRegistry
from ivr.speech.suggest import LOW_CONFIDENCE, read_utterances, suggest
from ivr.tickets.json_view import iso

DEFAULT_SPAN_SECONDS = 7 * 24 * 3600
MAX_TICKETS = 2000  # newest tickets read per request
KNOWN = ("plan", "menu", "from", "to", "min_count", "low_confidence")
SUGGEST_PLANS = web.AppKey("suggest_plans", PlanRegistry)


def _number(text: str | None, name: str, default: float, low: float, high: float) -> float:
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise bad_request(f"{name} must be a number from {low:g} to {high:g}, not {text!r}")
    return value


async def get_suggestions(request: web.Request) -> web.Response:
    """``plan`` and ``menu`` narrow it; ``from`` (default: 7 days back) and ``to``
    (ISO 8601 or Unix seconds); ``min_count`` (1-1000, default 2); ``low_confidence``
    (0-1, default 0.65): a match below it counts as uncertain."""
    query = request.query
    unknown = sorted(set(query) - set(KNOWN))
    if unknown:
        raise bad_request(f"unknown parameter {unknown[0]!r} (known: {', '.join(KNOWN)})")
    until = time_param(query, "to")
    since = time_param(query, "from")
    if since is None:
        since = (until or time.time()) - DEFAULT_SPAN_SECONDS
    min_count = int(_number(query.get("min_count"), "min_count", 2, 1, 1000))
    low = _number(query.get("low_confidence"), "low_confidence", LOW_CONFIDENCE, 0, 1)
    registry = request.app[SUGGEST_PLANS]
    names = [query["plan"]] if "plan" in query else [p["name"] for p in registry.summary()]
    plans = {name: plan for name in names if (plan := registry.get(name)) is not None}
    if "plan" in query and not plans:
        raise bad_request(f"no plan {query['plan']!r} in service")
    heard = await read_utterances(
        request.app[TICKETS], since, until, list(plans), low, max_tickets=MAX_TICKETS
    )
    if "menu" in query:
        heard = [u for u in heard if u.menu == query["menu"]]
    loop = asyncio.get_running_loop()
    found = await loop.run_in_executor(None, lambda: suggest(heard, plans, min_count))
    body: dict[str, Any] = {
        "from": iso(since),
        "to": None if until is None else iso(until),
        "utterances": len(heard),
        "suggestions": [s.as_json() for s in found],
    }
    return web.json_response(body)


def add_speech_routes(app: web.Application, plans: PlanRegistry) -> None:
    """Needs the ticket store under :data:`ivr.api.tickets.TICKETS` (add_ticket_routes)."""
    app[SUGGEST_PLANS] = plans
    app.router.add_get("/api/speech/suggestions", get_suggestions)
