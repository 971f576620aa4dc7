"""Every Redis key of the callback package, in one place. ``prefix`` comes from the caller."""


def line(prefix: str, queue: str) -> str:
    """Sorted set: the queue's one line (live callers and, later, callbacks), by place."""
    return f"{prefix}queue:{queue}:line"


def connecting(prefix: str, queue: str) -> str:
    """Set: entries of the line that are being connected to an agent right now."""
    return f"{prefix}queue:{queue}:connecting"


def arrivals(prefix: str, queue: str) -> str:
    """Sorted set: recent arrivals (member and score: arrival time), for the arrival rate."""
    return f"{prefix}queue:{queue}:arrivals"


def handled(prefix: str, queue: str) -> str:
    """Hash: running average handling time of the queue's answered calls."""
    return f"{prefix}queue:{queue}:handled"
