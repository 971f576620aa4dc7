"""Owned background tasks: kept referenced, cancelled for sure on shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any

RECANCEL_INTERVAL_SECONDS = 0.5


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait until all are done.

    Cancels again until each task is done: on Python 3.11 ``asyncio.wait_for``
    can swallow a cancellation that races with its inner future completing,
    which would leave a polling loop running forever.
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_INTERVAL_SECONDS)


class OwnedTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def __len__(self) -> int:
        return len(self._tasks)

    async def cancel_all(self) -> None:
        await cancel_and_wait(list(self._tasks))


async def finish_despite_cancel(coro: Coroutine[Any, Any, Any]) -> None:
    """Run ``coro`` to its end even when the caller is cancelled (once or repeatedly);
    re-raise the cancellation afterwards. For the last write of a call's ticket."""
    task = asyncio.ensure_future(coro)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done() and task.cancelled():
                raise
            cancelled = True
    task.result()
    if cancelled:
        raise asyncio.CancelledError
