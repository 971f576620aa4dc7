"""Reading a request's JSON body: anything that is not JSON is a 400, never a 500."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


async def json_body(request: web.Request, expected: str) -> Any:
    """The parsed body; a 400 saying ``expected`` when it is not JSON, not UTF-8, or
    nested too deep to parse (Python's parser recurses). Bodies over the app's
    ``client_max_size`` are a 413 from aiohttp."""
    try:
        return await request.json()
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError are ValueErrors
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"body must be {expected}"}), content_type="application/json"
        ) from None
