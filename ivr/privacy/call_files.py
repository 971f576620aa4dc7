"""A call's files (recording, messages) deleted where they are: here, or on the node
that wrote them, which finds the request in Redis on its next look."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ivr.media.recording import recording_path
from ivr.state import keys
from ivr.tickets.forgetting import CallFiles

log = logging.getLogger(__name__)


def _delete_here(root: Path, ticket_id: int, started_at: float) -> int:
    recording = recording_path(root, ticket_id, started_at)
    deleted = 0
    legs = recording.parent.glob(f"{ticket_id}-callback-*.wav")  # ivr.media.recording
    for path in [recording, *recording.parent.glob(f"{ticket_id}-message-*.wav"), *legs]:
        try:
            path.unlink()
            deleted += 1
        except FileNotFoundError:
            pass
    return deleted


def _delete_days_before(root: Path, cutoff: float) -> int:
    """Remove whole day folders (``YYYY/MM/DD``) that ended before ``cutoff``."""
    removed = 0
    for day in sorted(root.glob("[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]")):
        try:
            start = datetime.strptime("/".join(day.parts[-3:]), "%Y/%m/%d").replace(tzinfo=UTC)
        except ValueError:
            continue
        if start.timestamp() + 86400 <= cutoff:
            shutil.rmtree(day, ignore_errors=True)
            removed += 1
    return removed


class CallFileRemover:
    """Deletes call files on this node and hands the rest to their own node."""

    def __init__(self, root: Path, worker_id: str, client: aioredis.Redis, prefix: str) -> None:
        self._root = root
        self._worker_id = worker_id
        self._client = client
        self._prefix = prefix

    async def delete(self, calls: tuple[CallFiles, ...]) -> tuple[int, int]:
        """(files deleted here, calls handed to the worker that wrote them)."""
        deleted, handed = 0, 0
        for call in calls:
            here = await asyncio.to_thread(
                _delete_here, self._root, call.ticket_id, call.started_at
            )
            deleted += here
            if here == 0 and call.worker_id != self._worker_id:
                handed += await self._hand_over(call)
        return deleted, handed

    async def _hand_over(self, call: CallFiles) -> int:
        key = keys.files_to_delete(self._prefix, call.worker_id)
        try:
            await self._client.sadd(key, json.dumps([call.ticket_id, call.started_at]))
        except RedisError as exc:
            # The retention sweep of that node removes the day folder in time anyway.
            log.warning(
                "files of ticket %d not handed to %s: %s", call.ticket_id, call.worker_id, exc
            )
            return 0
        return 1

    async def delete_handed_to_me(self) -> int:
        """Delete the files other nodes asked this worker's node to delete."""
        key = keys.files_to_delete(self._prefix, self._worker_id)
        deleted = 0
        while True:
            entries = await self._client.spop(key, 100)
            if not entries:
                return deleted
            for entry in entries:
                ticket_id, started_at = json.loads(str(entry))
                deleted += await asyncio.to_thread(
                    _delete_here, self._root, int(ticket_id), float(started_at)
                )

    async def delete_days_before(self, cutoff: float) -> int:
        return await asyncio.to_thread(_delete_days_before, self._root, cutoff)
