"""Short-lived signed links: a way in for a browser element that cannot send a header.

An ``<audio>`` element fetches its ``src`` itself, without the page's bearer
token. Rather than a cookie (ambient authority, CSRF to think about) the page
asks, with its token, for a link to one recording: the path and its query,
an expiry (:data:`LINK_SECONDS` ahead) and the token's name, signed with
HMAC-SHA256. The link opens that one resource until it expires, for a token
still configured, with that token's role; it is no use for anything else.

The key is shared by every node through Redis (set once, by whichever node
comes first) so a node relaying a recording from another node passes the
link on and the other node accepts it. Without Redis a node signs with a key
of its own: its links work on that node only.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Mapping
from urllib.parse import urlencode

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ivr.api.tokens import Principal, TokenBook
from ivr.state import keys

log = logging.getLogger(__name__)

LINK_SECONDS = 300
# ``local`` is what a relaying node adds to the link it passes on.
UNSIGNED_PARAMS = frozenset({"sig", "local"})


class LinkSigner:
    """Signs and checks links; ``tokens`` say whether the signer's token still counts."""

    def __init__(self, client: aioredis.Redis, prefix: str, tokens: TokenBook) -> None:
        self._client = client
        self._key_name = keys.link_signing_key(prefix)
        self._tokens = tokens
        self._shared: bytes | None = None
        self._own = secrets.token_bytes(32)  # when Redis is away

    async def _keys(self) -> list[bytes]:
        """The shared key (read or set once) and this node's own, shared first."""
        if self._shared is None:
            try:
                await self._client.set(self._key_name, secrets.token_hex(32), nx=True)
                value = await self._client.get(self._key_name)
                if value is not None:
                    self._shared = value.encode() if isinstance(value, str) else bytes(value)
            except (RedisError, OSError) as exc:
                log.warning("link signing key not shared (Redis: %s): links work on this node", exc)
        return [self._shared, self._own] if self._shared is not None else [self._own]

    async def sign(
        self, path: str, query: Mapping[str, str], signer: Principal
    ) -> tuple[str, float]:
        """(``path?query`` with ``expires``, ``by`` and ``sig`` added, when it expires in
        Unix seconds): opens that resource for :data:`LINK_SECONDS` with ``signer``'s role."""
        expires = int(time.time()) + LINK_SECONDS
        fields = {**query, "expires": str(expires), "by": signer.name}
        key = (await self._keys())[0]
        return f"{path}?{urlencode({**fields, 'sig': _digest(key, path, fields)})}", expires

    async def verify(self, path: str, query: Mapping[str, str]) -> Principal | None:
        """Who signed the link in ``path?query``, or None: no link, a bad signature,
        expired, or the signer's token no longer configured."""
        signature, by, expires = query.get("sig", ""), query.get("by", ""), query.get("expires", "")
        if not signature or not by or not expires.isdigit() or int(expires) < time.time():
            return None
        fields = {k: v for k, v in query.items() if k not in UNSIGNED_PARAMS}
        for key in await self._keys():
            if hmac.compare_digest(_digest(key, path, fields), signature):
                return self._tokens.named(by)
        return None


def _digest(key: bytes, path: str, fields: Mapping[str, str]) -> str:
    message = "\n".join([path, *(f"{k}={fields[k]}" for k in sorted(fields))])
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()
