"""One call, one worker, one ticket: the first worker to take an INVITE claims its
dialog (Call-ID and From tag) in Redis; a copy of the same INVITE reaching another
worker (the edge re-routed it while the first was slow) or the same one twice is
refused before it is answered, so a caller is never answered twice and no call gets
two tickets.
"""

from __future__ import annotations

import logging
import re
import uuid

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ivr.state import keys

log = logging.getLogger(__name__)

# Longer than any INVITE transaction lives (64 x T1 = 32 s), so a late copy finds it.
DIALOG_CLAIM_SECONDS = 3600
_FROM_TAG = re.compile(r";\s*tag=([^;>\s]+)", re.IGNORECASE)


def from_tag(from_header: str) -> str:
    found = _FROM_TAG.search(from_header)
    return found.group(1) if found else ""


class DialogClaims:
    def __init__(self, client: aioredis.Redis, prefix: str, worker_id: str) -> None:
        self._client = client
        self._prefix = prefix
        self._worker_id = worker_id

    async def claim(self, call_id: str, from_header: str) -> str | None:
        """None when this call is the dialog's first; else who has it. With Redis
        away the call is taken (a duplicate is then possible, a lost caller is not)."""
        key = keys.dialog(self._prefix, call_id, from_tag(from_header))
        mine = f"{self._worker_id}/{uuid.uuid4().hex[:8]}"
        try:
            if await self._client.set(key, mine, nx=True, ex=DIALOG_CLAIM_SECONDS):
                return None
            holder = await self._client.get(key)
        except (RedisError, OSError) as exc:
            log.warning("dialog of %s not claimed (Redis: %s); taken", call_id, exc)
            return None
        return str(holder or "another call")
