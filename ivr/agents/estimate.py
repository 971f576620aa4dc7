"""Estimated wait in a queue from live figures: Erlang C and the caller's place in line."""

from __future__ import annotations

import math

NO_AGENTS = math.inf  # nobody staffed: the wait has no end


def erlang_c(agents: int, offered_load: float) -> float:
    """Probability that a new caller has to wait (Erlang C), for ``agents`` servers and
    ``offered_load`` erlangs; 1.0 when the load meets or exceeds the agents."""
    if agents <= 0 or offered_load >= agents:
        return 1.0
    if offered_load <= 0:
        return 0.0
    # The Erlang B recursion is numerically stable for large agent counts.
    blocking = 1.0
    for n in range(1, agents + 1):
        blocking = offered_load * blocking / (n + offered_load * blocking)
    utilisation = offered_load / agents
    return blocking / (1 - utilisation + utilisation * blocking)


def estimated_wait_seconds(
    *,
    ahead: int,
    agents_available: int,
    agents_staffed: int,
    average_handle_seconds: float,
    arrivals_per_second: float,
) -> float:
    """Seconds a caller with ``ahead`` callers in front of them can expect to wait.

    The place in line gives the floor: the callers ahead who find no free agent
    are served as staffed agents finish, one average handling time per agent.
    While the queue is stable, Erlang C's average speed of answer for the
    measured arrival rate is the other bound; the estimate is the larger one.
    """
    if agents_staffed <= 0:
        return NO_AGENTS
    if ahead < agents_available:
        return 0.0
    by_place = (ahead + 1 - agents_available) * average_handle_seconds / agents_staffed
    load = arrivals_per_second * average_handle_seconds
    if load >= agents_staffed:
        return by_place
    waiting_probability = erlang_c(agents_staffed, load)
    speed_of_answer = waiting_probability * average_handle_seconds / (agents_staffed - load)
    return max(by_place, speed_of_answer)
