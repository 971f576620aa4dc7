"""Who may call the API, and the audit row every state-changing call leaves.

Every request under ``/api/`` needs ``Authorization: Bearer <token>`` except
``GET /api/health`` (load balancers and container probes ask it without
credentials; it shows no personal data). ``/metrics`` (Prometheus scrapes
aggregate figures), the dashboard page ``/`` and its ``/static/`` files are
open too: the page holds no data, it asks for a token before reading any.

A handler declares what it needs with :func:`requires`::

    @requires(Role.OPERATOR, "callback.cancel")
    async def cancel_callback(request): ...

A read declared with ``signed_link=True`` also opens to a short-lived signed link
instead of the header (:mod:`ivr.api.signed_links`; an ``<audio>`` element sends none).

Undeclared handlers need ``viewer`` to read and ``admin`` to write, so an
endpoint added without thought is closed, not open. Every write (any method
but GET, HEAD, OPTIONS) is audited in the ticket store: refused (401 no or
unknown token, 403 role too weak), failed (allowed but 4xx/5xx) or ok.
Tokens never appear in logs or audit rows; only their names do.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from aiohttp import web

from ivr.api.tokens import Principal, Role, TokenBook
from ivr.exceptions import IvrError
from ivr.tickets.audit import FAILED, OK, REFUSED, AuditEntry

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)

OPEN_API_PATHS = frozenset({"/api/health"})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_AUDITED_TEXT = 100  # each text value of a body, in the audit row


class AuditLog(Protocol):
    async def add_audit(self, entry: AuditEntry) -> None: ...


class LinkChecker(Protocol):
    async def verify(self, path: str, query: Mapping[str, str]) -> Principal | None: ...


@dataclass(frozen=True)
class Access:
    role: Role  # the weakest role allowed
    action: str  # the audit log's name for what the handler does
    own: str | None = None  # match_info key an agent token bound to an agent must match
    target: Callable[[web.Request], str] | None = None  # default: the path's ids
    signed_link: bool = False  # a read a signed link opens without a token


TOKENS = web.AppKey("api_tokens", TokenBook)
AUDIT_LOG = web.AppKey("audit_log", AuditLog)
LINKS = web.AppKey("signed_links", LinkChecker)
PRINCIPAL = "ivr_principal"  # request key: the verified caller, on every guarded request

_ACCESS: dict[object, Access] = {}


def requires(
    role: Role,
    action: str,
    *,
    own: str | None = None,
    target: Callable[[web.Request], str] | None = None,
    signed_link: bool = False,
) -> Callable[[H], H]:
    """Declare the weakest role ``handler`` needs and the action it is audited under.

    ``own``: a ``match_info`` key; a token bound to an agent (``agent_id``) may act
    only where that key is its agent. ``target``: what the audit row names as
    acted on (default: the path's ``{...}`` values, joined by ``/``); give one
    that masks personal data when the path holds some. ``signed_link``: a read that
    a link signed by :data:`LINKS` opens without a token (the app must hold one).
    """

    def declare(handler: H) -> H:
        _ACCESS[handler] = Access(role, action, own, target, signed_link)
        return handler

    return declare


def access_of(handler: object) -> Access | None:
    return _ACCESS.get(handler)


def describe_access(route: web.AbstractRoute) -> dict[str, str]:
    """The role ``route`` needs and its audit action, as the middleware applies them."""
    path = route.resource.canonical if route.resource is not None else ""
    if path in OPEN_API_PATHS:
        return {"role": "none", "action": ""}
    access = access_of(route.handler)
    if access is None:
        writes = route.method not in READ_METHODS
        access = Access(Role.ADMIN if writes else Role.VIEWER, f"{route.method} {path}")
    return {"role": access.role.label, "action": access.action}


def principal(request: web.Request) -> Principal:
    """The verified caller of a guarded request (for handlers that want the name)."""
    found: Principal = request[PRINCIPAL]
    return found


def _json_error(status: type[web.HTTPException], reason: str, **headers: str) -> web.HTTPException:
    return status(
        text=json.dumps({"error": reason}), content_type="application/json", headers=headers
    )


def _presented_token(request: web.Request) -> tuple[str | None, str]:
    """The bearer token, or None with the reason it is missing or malformed."""
    header = request.headers.get("Authorization")
    if header is None:
        return None, "a token is required: send Authorization: Bearer <token>"
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None, "Authorization must be 'Bearer <token>'"
    return token.strip(), ""


def _default_action(request: web.Request) -> str:
    info = request.match_info.route.resource
    return f"{request.method} {info.canonical if info is not None else request.path}"


def _target(request: web.Request, access: Access) -> str:
    if access.target is not None:
        return access.target(request)
    return "/".join(request.match_info.values())


def _refusal(
    request: web.Request, access: Access
) -> tuple[Principal | None, web.HTTPException | None]:
    token, missing = _presented_token(request)
    if token is None:
        return None, _json_error(web.HTTPUnauthorized, missing, **{"WWW-Authenticate": "Bearer"})
    caller = request.app[TOKENS].verify(token)
    if caller is None:
        return None, _json_error(
            web.HTTPUnauthorized, "token not recognised", **{"WWW-Authenticate": "Bearer"}
        )
    if caller.role < access.role:
        return caller, _json_error(
            web.HTTPForbidden,
            f"role {caller.role.label} may not {access.action} (needs {access.role.label})",
        )
    if access.own is not None and caller.role is Role.AGENT and caller.agent_id is not None:
        acted_on = request.match_info.get(access.own)
        if acted_on != caller.agent_id:
            return caller, _json_error(
                web.HTTPForbidden,
                f"token {caller.name} acts for agent {caller.agent_id} only, not {acted_on}",
            )
    return caller, None


def _short(value: Any) -> Any:
    """A body value as audited: text cut short (notes may quote callers), nesting summarised."""
    if isinstance(value, str):
        return value if len(value) <= MAX_AUDITED_TEXT else value[:MAX_AUDITED_TEXT] + "..."
    if isinstance(value, dict | list):
        return f"<{type(value).__name__} of {len(value)}>"
    return value


async def _body_detail(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    try:
        raw = await request.read()  # the handler's read is cached: no second read
    except web.HTTPException:
        return {"body": "too large"}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return {"body": f"{len(raw)} bytes, not JSON"}
    if not isinstance(body, dict):
        return {"body": _short(body)}
    return {"body": {str(k)[:MAX_AUDITED_TEXT]: _short(v) for k, v in list(body.items())[:20]}}


async def _audit(
    request: web.Request,
    caller: Principal | None,
    access: Access,
    target: str,
    outcome: str,
    detail: dict[str, Any],
) -> None:
    entry = AuditEntry(
        at=time.time(),
        actor=caller.name if caller else "-",
        role=caller.role.label if caller else "-",
        action=access.action,
        target=target,
        outcome=outcome,
        detail=detail,
    )
    log.info(
        "audit: %s (%s) %s %s: %s", entry.actor, entry.role, entry.action, target or "-", outcome
    )
    try:
        await request.app[AUDIT_LOG].add_audit(entry)
    except IvrError as exc:
        # The change itself stands; the log line above keeps the record.
        log.error("audit row not written (%s): %s", exc, entry)


def _error_text(exc: web.HTTPException) -> str:
    try:
        return str(json.loads(exc.text or "").get("error", exc.reason))
    except (ValueError, AttributeError):
        return exc.reason


@web.middleware
async def access_control(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate, authorise and audit every request under ``/api/``."""
    if not request.path.startswith("/api/") or request.path in OPEN_API_PATHS:
        return await handler(request)
    if request.match_info.http_exception is not None:
        return await handler(request)  # no such route or method: nothing to guard
    writes = request.method not in READ_METHODS
    access = access_of(request.match_info.handler) or Access(
        Role.ADMIN if writes else Role.VIEWER, _default_action(request)
    )
    if access.signed_link and not writes and "Authorization" not in request.headers:
        return await _by_link(request, handler, access)
    caller, refusal = _refusal(request, access)
    if refusal is not None:
        if writes:
            reason = {"status": refusal.status, "error": _error_text(refusal)}
            await _audit(request, caller, access, _target(request, access), REFUSED, reason)
        raise refusal
    request[PRINCIPAL] = caller
    if not writes:
        return await handler(request)
    detail: dict[str, Any] = {}
    outcome = FAILED
    try:
        response = await handler(request)
        outcome = OK if response.status < 400 else FAILED
        detail["status"] = response.status
        return response
    except web.HTTPException as exc:
        outcome = OK if exc.status < 400 else FAILED
        detail.update(status=exc.status, error=_error_text(exc)[:500])
        raise
    except IvrError as exc:  # errors_as_json answers 503
        detail.update(status=503, error=str(exc)[:500])
        raise
    except Exception as exc:
        detail.update(status=500, error=type(exc).__name__)
        raise
    finally:
        detail.update(await _body_detail(request))
        await _audit(request, caller, access, _target(request, access), outcome, detail)


async def _by_link(request: web.Request, handler: Handler, access: Access) -> web.StreamResponse:
    """A read opened by a signed link in its query, as if its signer's token were sent."""
    links = request.app.get(LINKS)
    signer = None if links is None else await links.verify(request.path, request.query)
    if signer is None:
        reason = (
            "link expired or not valid" if "sig" in request.query else _presented_token(request)[1]
        )
        raise _json_error(web.HTTPUnauthorized, reason, **{"WWW-Authenticate": "Bearer"})
    if signer.role < access.role:
        raise _json_error(
            web.HTTPForbidden,
            f"role {signer.role.label} may not {access.action} (needs {access.role.label})",
        )
    request[PRINCIPAL] = signer
    return await handler(request)
