"""HTTP lookups from a plan: fetch JSON, pick values out of it by dotted path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp

from ivr.dialplan.templates import template_fields
from ivr.exceptions import IvrError


class LookupFailed(IvrError):
    """The lookup got no usable answer (refused, timed out, HTTP error, not JSON, no value)."""


class JsonFetcher(Protocol):
    async def fetch(self, method: str, url: str, timeout: float) -> Any:
        """The JSON body of the answer. Raises LookupFailed."""


class AiohttpFetcher:
    """One client session shared by all calls of a worker; close it at shutdown.

    ``bearer_tokens``: base URL -> API token, sent only to URLs under that base
    (a plan looking up tickets in the service's own API)."""

    def __init__(self, bearer_tokens: Mapping[str, str] | None = None) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._tokens = {base.rstrip("/") + "/": t for base, t in (bearer_tokens or {}).items()}

    def _headers(self, url: str) -> dict[str, str]:
        for base, token in self._tokens.items():
            if url.startswith(base):
                return {"Authorization": f"Bearer {token}"}
        return {}

    async def fetch(self, method: str, url: str, timeout: float) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.request(
                method,
                url,
                headers=self._headers(url),
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                if response.status >= 400:
                    raise LookupFailed(f"{method} {url}: HTTP {response.status}")
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise LookupFailed(f"{method} {url}: {type(exc).__name__} {exc}".strip()) from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def render_url(template: str, values: Mapping[str, str]) -> str:
    """The URL with each ``{field}`` replaced by its value, percent-encoded; a field
    that starts the template is a base URL (``{service_api}/api/...``) and goes in as is."""
    url = template
    for index, (name, _) in enumerate(template_fields(template)):
        value = str(values.get(name, ""))
        is_base = index == 0 and template.startswith(f"{{{name}}}")
        url = url.replace(f"{{{name}}}", value if is_base else quote(value, safe=""), 1)
    return url


def pick(data: Any, path: str) -> str:
    """The value at a dotted ``path`` ("plan.name", "items.0.id"). Raises LookupFailed."""
    value = data
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise LookupFailed(f"the answer has no {path!r}")
    if isinstance(value, dict | list) or value is None:
        raise LookupFailed(f"{path!r} is not a single value")
    return str(value)
