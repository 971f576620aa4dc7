"""The help desk's tickets as the service sees them, asked of the help desk now.

``GET /api/helpdesk/tickets/{external_id}``: one help desk ticket's status, owner
and our ticket (what a plan's ``status`` intent reads to a caller who keyed in the
help desk's number); ``GET /api/helpdesk/tickets?caller=NUMBER``: the same for the
caller's latest finished call that has a help desk ticket (by the caller's
identity). Viewer role, like every read; present only with a ``helpdesk`` section.
"""

from __future__ import annotations

import json

from aiohttp import web

from ivr.exceptions import IvrError
from ivr.tickets.connectors.base import ExternalState, HelpdeskConnector, HelpdeskError
from ivr.tickets.json_view import iso
from ivr.tickets.model import Disposition, TicketQuery
from ivr.tickets.store import TicketStore

CONNECTOR = web.AppKey("helpdesk_connector", HelpdeskConnector)
STORE = web.AppKey("helpdesk_tickets", TicketStore)
RECENT = 20  # of the caller's tickets, newest first, the latest with a help desk ticket


def _error(status: type[web.HTTPException], message: str) -> web.HTTPException:
    return status(text=json.dumps({"error": message}), content_type="application/json")


def _view(state: ExternalState) -> dict[str, object]:
    return {
        "external_id": state.ref.id,
        "external_url": state.ref.url,
        "ticket_id": state.ticket_id,
        "status": state.status,
        "work_status": state.work_status.value,
        "owner": state.owner,
        "updated_at": state.updated_at,
    }


async def _state(request: web.Request, external_id: str) -> ExternalState:
    try:
        state = await request.app[CONNECTOR].state(external_id)
    except HelpdeskError as exc:
        raise _error(web.HTTPServiceUnavailable, f"the help desk did not answer: {exc}") from exc
    if state is None:
        raise _error(web.HTTPNotFound, f"the help desk has no ticket {external_id!r}")
    return state


async def helpdesk_ticket(request: web.Request) -> web.Response:
    return web.json_response(_view(await _state(request, request.match_info["external_id"])))


async def helpdesk_ticket_of_caller(request: web.Request) -> web.Response:
    caller = request.query.get("caller", "").strip()
    if not caller:
        raise _error(web.HTTPBadRequest, "give ?caller=NUMBER")
    try:
        tickets = await request.app[STORE].search(TicketQuery(caller=caller, limit=RECENT))
    except IvrError as exc:
        raise _error(web.HTTPServiceUnavailable, str(exc)) from exc
    for ticket in tickets:  # newest first; the caller's own live call is not "my ticket"
        if ticket.external_id and ticket.disposition is not Disposition.LIVE:
            body = _view(await _state(request, ticket.external_id))
            return web.json_response({**body, "started_at": iso(ticket.start.started_at)})
    raise _error(web.HTTPNotFound, f"no help desk ticket for caller {caller!r}")


def add_helpdesk_routes(
    app: web.Application, connector: HelpdeskConnector, tickets: TicketStore
) -> None:
    app[CONNECTOR] = connector
    app[STORE] = tickets
    app.router.add_get("/api/helpdesk/tickets", helpdesk_ticket_of_caller)
    app.router.add_get("/api/helpdesk/tickets/{external_id}", helpdesk_ticket)
