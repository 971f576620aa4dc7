"""Request Tracker 5 through its REST 2 API, with an auth token (``Authorization: token``).

Each change is made so that doing it twice is doing it once:

- a ticket is created only after a search for ours found none (by the ``ticket_id``
  custom field when one is mapped, else by the ``[IVR #N]`` tag in the subject);
- fields, queue, requestor and status are set with ``PUT`` (setting a value twice
  changes nothing);
- a comment carries the subject ``IVR delivery N`` and is not posted again when
  the ticket already has an attachment of that subject.

The read-back lists our tickets newest change first and stops at the watermark
(RT's ``LastUpdated``, in UTC), so RT's own time zone never matters.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp

from ivr.tickets import outbox
from ivr.tickets.connectors import summary
from ivr.tickets.connectors.base import (
    Change,
    ExternalRef,
    ExternalState,
    HelpdeskRefused,
    HelpdeskUnavailable,
)
from ivr.tickets.connectors.settings import HelpdeskConfig
from ivr.tickets.model import Ticket, WorkStatus

log = logging.getLogger(__name__)

# RT's statuses (the default lifecycle and common additions) in our words.
WORK_STATUS = {
    "new": WorkStatus.OPEN,
    "stalled": WorkStatus.OPEN,
    "open": WorkStatus.IN_PROGRESS,
    "resolved": WorkStatus.RESOLVED,
    "rejected": WorkStatus.RESOLVED,
    "deleted": WorkStatus.RESOLVED,
}
PAGE = 50
MAX_PAGES = 20  # a read-back reads at most this many pages of changes a round
NOBODY = "Nobody"


class RtConnector:
    name = "Request Tracker"

    def __init__(self, config: HelpdeskConfig, token: str, service_url: str) -> None:
        self._config = config
        self._api = f"{config.url}/REST/2.0"
        self._service_url = service_url
        self._headers = {"Authorization": f"token {token}", "Accept": "application/json"}
        self._timeout = aiohttp.ClientTimeout(total=config.timeout_seconds)
        self._session: aiohttp.ClientSession | None = None
        self._id_field = config.fields.get("ticket_id")

    # -- HTTP ---------------------------------------------------------------

    async def _call(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
        url = f"{self._api}/{path}"
        try:
            async with self._session.request(method, url, json=body, params=params) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise HelpdeskUnavailable(f"RT {method} {path}: {type(exc).__name__}: {exc}") from exc
        if status >= 500 or status in (408, 429):
            raise HelpdeskUnavailable(f"RT {method} {path}: HTTP {status}")
        if status == 404 and method == "GET":
            return None
        if status >= 400:
            raise HelpdeskRefused(f"RT {method} {path}: HTTP {status}: {text[:300]}")
        try:
            return json.loads(text) if text else None
        except ValueError as exc:
            # A proxy's error page, a login form: not RT's API answering.
            raise HelpdeskUnavailable(f"RT {method} {path}: not JSON: {text[:100]!r}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _ref(self, rt_id: str) -> ExternalRef:
        return ExternalRef(rt_id, f"{self._config.url}/Ticket/Display.html?id={rt_id}")

    # -- delivering ---------------------------------------------------------

    async def deliver(self, change: Change, known: ExternalRef | None) -> ExternalRef:
        ticket = change.ticket
        ref = known or await self._find(ticket.id)
        if ref is None:
            ref = await self._create(ticket)
        if change.event == outbox.CLOSED:
            await self._update(ref, self._closed_fields(ticket))
            await self._comment_once(
                ref, change.delivery_id, summary.closed_body(ticket, self._service_url)
            )
        elif change.event == outbox.CALLBACK_ATTEMPT:
            await self._comment_once(
                ref, change.delivery_id, summary.attempt_body(change.attempt or {})
            )
        elif change.event == outbox.RESOLVED:
            await self._update(ref, {"Status": "resolved"})
        return ref

    async def _find(self, ticket_id: int) -> ExternalRef | None:
        if self._id_field:
            query = f"'CF.{{{self._id_field}}}' = '{ticket_id}'"
        else:
            query = f"Subject LIKE '{summary.tag(ticket_id)}'"
        found = await self._call("GET", "tickets", params={"query": query, "orderby": "id"})
        items = (found or {}).get("items") or []
        return self._ref(str(items[0]["id"])) if items else None

    async def _create(self, ticket: Ticket) -> ExternalRef:
        body: dict[str, Any] = {
            "Queue": self._config.queue_for(
                ticket.start.plan_name, ticket.handling.intent, ticket.handling.queue
            ),
            "Subject": summary.subject(ticket),
            "Content": summary.arrived_body(ticket, self._service_url),
            "ContentType": "text/plain",
            "CustomFields": summary.field_values(ticket, self._config.fields),
        }
        email = summary.requestor(ticket)
        if email:
            body["Requestor"] = email
        created = await self._call("POST", "ticket", body)
        if not created or "id" not in created:
            raise HelpdeskUnavailable(f"RT created no ticket: {created!r}")
        log.info("RT ticket %s created for ticket %d", created["id"], ticket.id)
        return self._ref(str(created["id"]))

    def _closed_fields(self, ticket: Ticket) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "Queue": self._config.queue_for(
                ticket.start.plan_name, ticket.handling.intent, ticket.handling.queue
            ),
            "Subject": summary.subject(ticket),
            "CustomFields": summary.field_values(ticket, self._config.fields),
        }
        email = summary.requestor(ticket)
        if email:
            fields["Requestor"] = email
        return fields

    async def _update(self, ref: ExternalRef, fields: dict[str, Any]) -> None:
        await self._call("PUT", f"ticket/{ref.id}", fields)

    async def _comment_once(self, ref: ExternalRef, delivery_id: int, text: str) -> None:
        marker = f"IVR delivery {delivery_id}"
        found = await self._call(
            "POST",
            f"ticket/{ref.id}/attachments",
            [{"field": "Subject", "value": marker}],
            params={"fields": "Subject"},
        )
        if (found or {}).get("total") or (found or {}).get("count"):
            return
        body = {"Subject": marker, "Content": text, "ContentType": "text/plain"}
        await self._call("POST", f"ticket/{ref.id}/comment", body)

    # -- reading back -------------------------------------------------------

    def _ours_query(self) -> str:
        if self._id_field:
            return f"'CF.{{{self._id_field}}}' IS NOT NULL"
        return "Subject LIKE '[IVR #'"

    def _state(self, item: dict[str, Any]) -> ExternalState:
        status = str(item.get("Status") or "")
        owner = (item.get("Owner") or {}).get("id")
        return ExternalState(
            ref=self._ref(str(item["id"])),
            ticket_id=self._our_id(item),
            work_status=WORK_STATUS.get(status, WorkStatus.IN_PROGRESS),
            status=status,
            owner=None if owner in (None, NOBODY) else str(owner),
            updated_at=str(item.get("LastUpdated") or ""),
        )

    def _our_id(self, item: dict[str, Any]) -> int | None:
        if self._id_field:
            for custom in item.get("CustomFields") or []:
                values = custom.get("values") or []
                if custom.get("name") == self._id_field and values and str(values[0]).isdigit():
                    return int(values[0])
            return None
        subject = str(item.get("Subject") or "")
        head, _, rest = subject.partition("[IVR #")
        number = rest.split("]", 1)[0]
        return int(number) if number.isdigit() else None

    async def changed_since(self, watermark: str | None) -> list[ExternalState]:
        changed: list[ExternalState] = []
        for page in range(1, MAX_PAGES + 1):
            found = await self._call(
                "GET",
                "tickets",
                params={
                    "query": self._ours_query(),
                    "orderby": "LastUpdated",
                    "order": "DESC",
                    "per_page": str(PAGE),
                    "page": str(page),
                    "fields": "Status,Owner,LastUpdated,Subject,CustomFields",
                },
            )
            items = (found or {}).get("items") or []
            for item in items:
                state = self._state(item)
                # ISO 8601 UTC stamps of one format compare as text.
                if watermark is not None and state.updated_at < watermark:
                    return list(reversed(changed))
                changed.append(state)
            if len(items) < PAGE:
                break
        return list(reversed(changed))

    async def state(self, external_id: str) -> ExternalState | None:
        if not external_id.isdigit():
            return None
        item = await self._call("GET", f"ticket/{external_id}")
        return None if item is None else self._state(item)

    async def check(self) -> list[str]:
        problems: list[str] = []
        try:
            about = await self._call("GET", "rt")
        except (HelpdeskUnavailable, HelpdeskRefused) as exc:
            return [f"{self._api} does not answer: {exc}"]
        log.info("RT %s at %s", (about or {}).get("Version"), self._api)
        wanted = {self._config.default_queue, *(rule.target for rule in self._config.queues)}
        for name in sorted(wanted):
            if await self._call("GET", f"queue/{name}") is None:
                problems.append(
                    f"helpdesk queue {name!r}: RT has no such queue (or no right to see it)"
                )
        for source, name in sorted(self._config.fields.items()):
            found = await self._call(
                "POST",
                "customfields",
                [
                    {"field": "Name", "value": name},
                    {"field": "LookupType", "value": "RT::Queue-RT::Ticket"},
                ],
            )
            if not (found or {}).get("total") and not (found or {}).get("count"):
                problems.append(f"helpdesk.fields.{source}: RT has no ticket custom field {name!r}")
        return problems
