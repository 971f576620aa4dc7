"""Reading this service's own JSON endpoints from inside a request.

The dashboard and ``/metrics`` show what the API serves, through the route
table: they need no knowledge of the parts behind each endpoint, and an
endpoint that is not served (yet) reads as ``None``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

# Paths whose last read failed: a dashboard polls every second, so an outage is
# logged when it starts and when it ends, not on every read.
_failing: set[str] = set()


def _failed(path: str, detail: str) -> None:
    if path not in _failing:
        _failing.add(path)
        log.warning("%s unavailable to the dashboard and metrics: %s", path, detail)


def _recovered(path: str) -> None:
    if path in _failing:
        _failing.discard(path)
        log.info("%s available again to the dashboard and metrics", path)


async def read_json(request: web.Request, path_and_query: str) -> Any:
    """The JSON body ``GET path_and_query`` answers within ``request``'s app; ``None``
    when no route serves it or its handler fails (logged: a dashboard or a scrape
    must not fail because one part of the service is down)."""
    sub = request.clone(method="GET", rel_url=path_and_query)
    match = await request.app.router.resolve(sub)
    if match.http_exception is not None:
        return None
    path = path_and_query.split("?", 1)[0]
    try:
        response = await match.handler(sub)
    except web.HTTPException as exc:
        _failed(path, f"answered {exc.status} {exc.text or ''}")
        return None
    except Exception as exc:
        # IvrError, OSError, or a shared-state client's own error (e.g. Redis down):
        # the endpoint's middleware is not in this path, so it stops here.
        _failed(path, f"{type(exc).__name__}: {exc}")
        return None
    _recovered(path)
    if not isinstance(response, web.Response) or response.body is None:
        return None
    body = response.body
    return json.loads(body if isinstance(body, bytes) else response.text or "null")
