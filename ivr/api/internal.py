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

from ivr.exceptions import IvrError

log = logging.getLogger(__name__)


async def read_json(request: web.Request, path_and_query: str) -> Any:
    """The JSON body ``GET path_and_query`` answers within ``request``'s app; ``None``
    when no route serves it or its handler fails (logged: a dashboard or a scrape
    must not fail because one part of the service is down)."""
    sub = request.clone(method="GET", rel_url=path_and_query)
    match = await request.app.router.resolve(sub)
    if match.http_exception is not None:
        return None
    try:
        response = await match.handler(sub)
    except web.HTTPException as exc:
        log.warning("%s answered %s inside a dashboard or metrics read", path_and_query, exc.status)
        return None
    except (IvrError, OSError) as exc:
        log.warning("%s failed inside a dashboard or metrics read: %s", path_and_query, exc)
        return None
    except Exception:
        # Shared-state clients raise their own errors (e.g. Redis down); the
        # endpoint's own middleware is not in this path, so stop them here.
        log.exception("%s failed inside a dashboard or metrics read", path_and_query)
        return None
    if not isinstance(response, web.Response) or response.body is None:
        return None
    body = response.body
    return json.loads(body if isinstance(body, bytes) else response.text or "null")
