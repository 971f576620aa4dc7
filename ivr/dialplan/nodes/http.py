"""``http``: fetches JSON and keeps values picked out of it as call variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ivr.dialplan.http_lookup import LookupFailed, pick, render_url
from ivr.dialplan.model import BaseNode
from ivr.dialplan.nodes.base import METHOD, NODE_NAME, TIMEOUT, Fields, NodeType
from ivr.dialplan.nodes.call import Call
from ivr.dialplan.templates import template_fields
from ivr.dialplan.yaml_reader import entries_of, text_of

METHODS = ("GET", "POST")


@dataclass(frozen=True)
class HttpLookupNode(BaseNode):
    """Fetches JSON from ``url`` (a template); ``results`` maps variables to dotted paths
    in the answer. Any failure goes to ``on_failure``."""

    url: str
    method: str
    timeout_seconds: float
    results: Mapping[str, str]
    next: str | None
    on_failure: str | None


class HttpType(NodeType[HttpLookupNode]):
    name = "http"
    node_class = HttpLookupNode
    keys = frozenset({"url", "method", "timeout", "results", "next", "on_failure"})

    def build(self, f: Fields) -> HttpLookupNode:
        url = f.text("url") or ""
        if "url" not in f.entries:
            f.ctx.error(f.node, f"http node {f.name!r} has no 'url'")
        elif not url.startswith(("http://", "https://", "{")):
            f.ctx.error(
                f.entries["url"][1],
                "url must start with http://, https:// or a base like {service_api}",
            )
        else:
            try:
                template_fields(url)
            except ValueError as exc:
                f.ctx.error(f.entries["url"][1], str(exc))
        method = (f.text("method") or "GET").upper()
        if method not in METHODS:
            f.ctx.error(f.entries["method"][1], "method must be GET or POST")
        results: dict[str, str] = {}
        if "results" in f.entries:
            for variable, (_, path_node) in entries_of(
                f.ctx, f.entries["results"][1], "results", None
            ).items():
                path = text_of(f.ctx, path_node, f"path of {variable!r}")
                if path:
                    results[variable] = path
        return HttpLookupNode(
            name=f.name,
            location=f.location,
            prompts=f.prompts,
            url=url,
            method=method,
            timeout_seconds=f.number("timeout", 0.1, 30, 3.0),
            results=results,
            next=f.target("next"),
            on_failure=f.target("on_failure"),
        )

    def targets(self, node: HttpLookupNode) -> list[str]:
        return [t for t in (node.next, node.on_failure) if t]

    def schema(self) -> dict[str, Any]:
        return {
            "url": {"type": "string", "description": "http(s) URL; {variable} fields are filled"},
            "method": METHOD,
            "timeout": TIMEOUT,
            "results": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "variable -> dotted path in the JSON answer",
            },
            "next": NODE_NAME,
            "on_failure": NODE_NAME,
        }

    async def run(self, node: HttpLookupNode, call: Call) -> str | None:
        url = render_url(node.url, call.values())
        fetcher = call.services.fetcher
        try:
            if fetcher is None:
                raise LookupFailed("HTTP lookups are not available here")
            data = await fetcher.fetch(node.method, url, node.timeout_seconds)
            found = {variable: pick(data, path) for variable, path in node.results.items()}
        except LookupFailed as exc:
            call.journal.event("http_lookup", node=node.name, url=url, ok=False, error=str(exc))
            return node.on_failure
        call.journal.event("http_lookup", node=node.name, url=url, ok=True)
        for variable, value in found.items():
            call.journal.set_variable(variable, value, node.name)
        return node.next
