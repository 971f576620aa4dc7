"""Every Redis key the service uses, in one place. ``prefix`` comes from config."""


def live_call(prefix: str, call_id: str) -> str:
    """Hash: one live call (worker, numbers, ticket, current node)."""
    return f"{prefix}call:{call_id}"


def live_calls_index(prefix: str) -> str:
    """Sorted set: call ids of all live calls of all workers, scored by start time."""
    return f"{prefix}calls"
