"""Every Redis key of the callback package, in one place. ``prefix`` comes from the caller."""

LINE_SUFFIX = ":line"
CALLBACK_ENTRY_PREFIX = "cb:"  # a callback request's member in a line: cb:<request id>


def line(prefix: str, queue: str) -> str:
    """Sorted set: the queue's one line (live callers and, later, callbacks), by place."""
    return f"{prefix}queue:{queue}{LINE_SUFFIX}"


def connecting(prefix: str, queue: str) -> str:
    """Set: entries of the line that are being connected to an agent right now."""
    return f"{prefix}queue:{queue}:connecting"


def held(prefix: str, queue: str) -> str:
    """Set: entries of the line whose turn is held (callback requests whose number is on
    a call now): they keep their place, and nobody behind them waits for them."""
    return f"{prefix}queue:{queue}:held"


def arrivals(prefix: str, queue: str) -> str:
    """Sorted set: recent arrivals (member and score: arrival time), for the arrival rate."""
    return f"{prefix}queue:{queue}:arrivals"


def handled(prefix: str, queue: str) -> str:
    """Hash: running average handling time of the queue's answered calls."""
    return f"{prefix}queue:{queue}:handled"


def callback(prefix: str, request_id: str) -> str:
    """Hash: one callback request (``:history`` beside it: its attempts, a list of JSON)."""
    return f"{prefix}callback:{request_id}"


def callbacks_by_number(prefix: str) -> str:
    """Hash: number -> id of its pending or dialling request (one per number)."""
    return f"{prefix}callbacks:by-number"


def callbacks_due(prefix: str, queue: str) -> str:
    """Sorted set: pending request ids of ``queue``, scored by when they may be dialled."""
    return f"{prefix}callbacks:due:{queue}"


def callbacks_leased(prefix: str) -> str:
    """Sorted set: request ids being dialled, scored by when their lease runs out."""
    return f"{prefix}callbacks:leased"


def callbacks_closed(prefix: str) -> str:
    """Sorted set: done, failed and cancelled request ids, scored by when they closed."""
    return f"{prefix}callbacks:closed"


def callback_queues(prefix: str) -> str:
    """Set: queues that have had callback requests."""
    return f"{prefix}callbacks:queues"


def callbacks_unjournaled(prefix: str) -> str:
    """Hash: ``<request id>:<attempt>`` -> the attempt's record (JSON, with its state),
    settled in Redis and not yet on its ticket; written by the script that settles it."""
    return f"{prefix}callbacks:unjournaled"


def callbacks_journal_lock(prefix: str) -> str:
    """String: the dispatcher writing others' unjournaled attempts on their tickets."""
    return f"{prefix}callbacks:journal-lock"
