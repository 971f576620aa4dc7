"""Erasing one caller's personal data over HTTP: ``DELETE /api/callers/{number}``."""

from __future__ import annotations

import json
import re
from dataclasses import asdict

from aiohttp import web
from redis.exceptions import RedisError

from ivr.api.auth import requires
from ivr.api.tokens import Role
from ivr.exceptions import IvrError
from ivr.privacy.masking import mask_numbers
from ivr.privacy.retention import PersonalData

PERSONAL_DATA = web.AppKey("personal_data", PersonalData)
_CALLER = re.compile(r"[^\s\x00-\x1f]{1,128}")


def _error(status: type[web.HTTPException], message: str) -> web.HTTPException:
    return status(text=json.dumps({"error": message}), content_type="application/json")


def _masked_caller(request: web.Request) -> str:
    return mask_numbers(f"tel:{request.match_info['number']}")[4:]


@requires(Role.ADMIN, "caller.erase", target=_masked_caller)
async def erase_caller(request: web.Request) -> web.Response:
    """Forget the caller's tickets' personal data, call files and callbacks; 503 when
    the database or Redis is away (nothing half-done stays: asking again finishes)."""
    number = request.match_info["number"]
    if not _CALLER.fullmatch(number):
        raise _error(web.HTTPBadRequest, "caller number must be 1-128 visible characters")
    try:
        erasure = await request.app[PERSONAL_DATA].erase_caller(number)
    except (IvrError, RedisError) as exc:
        raise _error(
            web.HTTPServiceUnavailable, f"erasure not finished, ask again: {exc}"
        ) from None
    return web.json_response({"caller": _masked_caller(request), **asdict(erasure)})


def add_privacy_routes(app: web.Application, personal_data: PersonalData) -> None:
    app[PERSONAL_DATA] = personal_data
    app.router.add_delete("/api/callers/{number}", erase_caller)
