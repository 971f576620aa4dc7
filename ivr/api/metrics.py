"""``GET /metrics``: Prometheus text exposition of calls, queues, agents, callbacks, errors.

Two kinds of figures:

- counted by this worker since it started (``*_total`` counters and the
  recognition-latency histogram): observed as each call's ticket is written,
  so they agree with the tickets; Prometheus sums them over workers;
- read at scrape time from the shared state, from the same endpoints the
  dashboard reads (``/api/queues``, ``/api/agents``, ``/api/callbacks``): the
  same on every worker, so aggregate them with ``max``, not ``sum``.
"""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector

from ivr.api.app import TELEPHONY
from ivr.api.internal import read_json
from ivr.exceptions import IvrError
from ivr.tickets.audit import AuditEntry, AuditQuery
from ivr.tickets.forgetting import Forget, Forgotten
from ivr.tickets.history import IntervalCalls
from ivr.tickets.model import (
    Disposition,
    Ticket,
    TicketEnd,
    TicketEvent,
    TicketQuery,
    TicketStart,
    TicketUpdate,
)
from ivr.tickets.outbox import WEBHOOK, OutboxMessage
from ivr.tickets.stats import TicketStats
from ivr.tickets.store import TicketStore

AGENT_STATES = ("offline", "available", "ringing", "on_call", "wrap_up", "break")
CALLBACK_STATES = ("pending", "dialling", "done", "failed", "cancelled")
# Vosk decodes a short utterance in tens of milliseconds; seconds mean an overloaded pool.
DECODE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Ticket events that are errors worth alerting on, by the kind they are counted under.
ERROR_EVENTS = {
    "transfer_refused": "dial_refused",
    "transfer_failed": "transfer_failed",
    "agent_no_answer": "agent_no_answer",
    "recording_failed": "recording_failed",
    "prompt_error": "prompt_error",
    "goto_failed": "goto_failed",
    "callback_failed": "callback_failed",
}


class ServiceMetrics:
    """This worker's counters; one per service process."""

    def __init__(self) -> None:
        # ``*_created`` series would double the output for a figure Prometheus has anyway.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        self.calls = Counter(
            "ivr_calls",
            "Calls ended on this worker, by ticket disposition.",
            ["disposition"],
            registry=self.registry,
        )
        self.errors = Counter(
            "ivr_errors",
            "Errors on this worker: failed calls, refused dials, webhook failures and more.",
            ["kind"],
            registry=self.registry,
        )
        self.decode_seconds = Histogram(
            "ivr_recognition_decode_seconds",
            "Speech recognition latency: end of speech to transcript.",
            buckets=DECODE_BUCKETS,
            registry=self.registry,
        )
        self.utterances = Counter(
            "ivr_utterances",
            "Caller utterances recognised, by whether an intent matched.",
            ["matched"],
            registry=self.registry,
        )
        # Zeros from the start, so a rate() over a fresh worker is defined.
        for disposition in Disposition:
            if disposition is not Disposition.LIVE:
                self.calls.labels(disposition.value)
        for kind in ("failed_call", "webhook_failure", "ticket_write", "lookup_failed"):
            self.errors.labels(kind)
        for kind in ERROR_EVENTS.values():
            self.errors.labels(kind)
        for matched in ("yes", "no"):
            self.utterances.labels(matched)

    def call_ended(self, end: TicketEnd) -> None:
        """Count one call from what its ticket records."""
        self.calls.labels(end.disposition.value).inc()
        if end.disposition is Disposition.FAILED:
            self.errors.labels("failed_call").inc()
        for event in end.events:
            kind = ERROR_EVENTS.get(event.kind)
            if kind is not None:
                self.errors.labels(kind).inc()
            elif event.kind == "http_lookup" and event.detail.get("ok") is False:
                self.errors.labels("lookup_failed").inc()
            elif event.kind == "utterance":
                decode_ms = event.detail.get("decode_ms")
                if isinstance(decode_ms, int | float):
                    self.decode_seconds.observe(decode_ms / 1000)
                matched = event.detail.get("intent") is not None
                self.utterances.labels("yes" if matched else "no").inc()


class MeteredTicketStore:
    """A :class:`TicketStore` that counts finished calls and failed webhook deliveries
    in :class:`ServiceMetrics`; everything else passes straight through."""

    def __init__(self, store: TicketStore, metrics: ServiceMetrics) -> None:
        self._store = store
        self._metrics = metrics

    async def open(self) -> None:
        await self._store.open()

    async def close(self) -> None:
        await self._store.close()

    async def create(self, start: TicketStart) -> int:
        return await self._store.create(start)

    async def finish(self, ticket_id: int, end: TicketEnd) -> None:
        # Counted even when the write fails: the call happened.
        self._metrics.call_ended(end)
        try:
            await self._store.finish(ticket_id, end)
        except IvrError:
            self._metrics.errors.labels("ticket_write").inc()
            raise

    async def append_event(self, ticket_id: int, event: TicketEvent) -> None:
        await self._store.append_event(ticket_id, event)

    async def get(self, ticket_id: int) -> Ticket | None:
        return await self._store.get(ticket_id)

    async def search(self, query: TicketQuery) -> list[Ticket]:
        return await self._store.search(query)

    async def count(self, query: TicketQuery) -> int:
        return await self._store.count(query)

    async def update(self, ticket_id: int, update: TicketUpdate) -> Ticket | None:
        return await self._store.update(ticket_id, update)

    async def queue_history(self, since: float, until: float) -> list[IntervalCalls]:
        return await self._store.queue_history(since, until)

    async def stats(self, since: float, until: float) -> TicketStats:
        return await self._store.stats(since, until)

    async def outbox_pending(self, limit: int, consumer: str = WEBHOOK) -> list[OutboxMessage]:
        return await self._store.outbox_pending(limit, consumer)

    async def set_external(self, ticket_id: int, external_id: str, url: str | None) -> None:
        await self._store.set_external(ticket_id, external_id, url)

    async def outbox_delivered(self, message_id: int) -> None:
        await self._store.outbox_delivered(message_id)

    async def outbox_failed(self, message_id: int, error: str, give_up: bool) -> None:
        self._metrics.errors.labels("webhook_failure").inc()
        await self._store.outbox_failed(message_id, error, give_up)

    async def forget(self, spec: Forget) -> Forgotten:
        return await self._store.forget(spec)

    async def add_audit(self, entry: AuditEntry) -> None:
        await self._store.add_audit(entry)

    async def audit_entries(self, query: AuditQuery) -> list[AuditEntry]:
        return await self._store.audit_entries(query)


class _Snapshot(Collector):
    """Figures read for one scrape; prometheus_client formats them."""

    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self._families = families

    def collect(self) -> list[GaugeMetricFamily]:
        return self._families


def _gauge(name: str, help_text: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, labels=labels)


def _number(value: Any) -> float:
    """A JSON figure as a sample value; ``None`` (e.g. no agent staffed) is +Inf."""
    return math.inf if value is None else float(value)


async def shared_state_families(request: web.Request) -> list[GaugeMetricFamily]:
    """Live calls, queues, agents and callbacks as gauges, read at scrape time."""
    active = _gauge("ivr_active_calls", "Calls in progress on this worker.")
    active.add_metric([], request.app[TELEPHONY].live_calls)
    headroom = request.app[TELEPHONY].headroom()
    lag = _gauge("ivr_event_loop_lag_ms", "Largest event-loop lag in the last 2 s (headroom).")
    lag.add_metric([], headroom.loop_lag_ms)
    full = _gauge("ivr_full", "1 while this worker refuses new calls for want of headroom.")
    full.add_metric([], 1 if headroom.full else 0)
    refused = _gauge("ivr_calls_refused_full", "INVITEs refused as full since the worker started.")
    refused.add_metric([], headroom.refused)
    families = [active, lag, full, refused]

    queues = await read_json(request, "/api/queues")
    waiting = _gauge("ivr_queue_waiting", "Callers waiting in the queue.", ["queue"])
    estimate = _gauge(
        "ivr_queue_estimated_wait_seconds",
        "Estimated wait for a caller joining now (+Inf: nobody staffed).",
        ["queue"],
    )
    longest = _gauge("ivr_queue_longest_wait_seconds", "Longest current wait.", ["queue"])
    available = _gauge("ivr_queue_agents_available", "Agents free for the queue.", ["queue"])
    staffed = _gauge("ivr_queue_agents_staffed", "Agents logged in to the queue.", ["queue"])
    for queue in (queues or {}).get("queues", []):
        name = [str(queue["name"])]
        waiting.add_metric(name, queue["waiting"])
        estimate.add_metric(name, _number(queue["estimated_wait_seconds"]))
        longest.add_metric(name, queue["longest_wait_seconds"])
        available.add_metric(name, queue["agents_available"])
        staffed.add_metric(name, queue["agents_staffed"])
    families += [waiting, estimate, longest, available, staffed]

    agents = await read_json(request, "/api/agents")
    by_state = dict.fromkeys(AGENT_STATES, 0)
    for agent in (agents or {}).get("agents", []):
        by_state[str(agent["state"])] = by_state.get(str(agent["state"]), 0) + 1
    agent_family = _gauge("ivr_agents", "Agents by state.", ["state"])
    for state, count in by_state.items():
        agent_family.add_metric([state], count)
    families.append(agent_family)

    # Zeros until the callback queue's endpoint is served.
    callbacks = await read_json(request, "/api/callbacks")
    counts = dict.fromkeys(CALLBACK_STATES, 0)
    counts.update((callbacks or {}).get("counts", {}))
    callback_family = _gauge("ivr_callbacks", "Callback requests by state.", ["state"])
    for state, count in counts.items():
        callback_family.add_metric([state], count)
    families.append(callback_family)
    return families


METRICS = web.AppKey("metrics", ServiceMetrics)


async def metrics_endpoint(request: web.Request) -> web.Response:
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(_Snapshot(await shared_state_families(request)))
    body = generate_latest(request.app[METRICS].registry) + generate_latest(scrape)
    response = web.Response(body=body)
    # 0.0.4: the text format every Prometheus version reads.
    response.headers["Content-Type"] = CONTENT_TYPE_PLAIN_0_0_4
    return response


def add_metrics_routes(app: web.Application, metrics: ServiceMetrics) -> None:
    """``GET /metrics``; ``metrics`` must be the one the ticket store reports to."""
    app[METRICS] = metrics
    app.router.add_get("/metrics", metrics_endpoint)
