"""Every Redis key the service uses, in one place. ``prefix`` comes from config."""


def live_call(prefix: str, call_id: str) -> str:
    """Hash: one live call (worker, numbers, ticket, current node)."""
    return f"{prefix}call:{call_id}"


def live_calls_index(prefix: str) -> str:
    """Sorted set: call ids of all live calls of all workers, scored by start time."""
    return f"{prefix}calls"


def live_call_workers(prefix: str) -> str:
    """Set: ids of the workers that registered live calls (the sweeper's first look)."""
    return f"{prefix}calls:workers"


def agent(prefix: str, agent_id: str) -> str:
    """Hash: one agent's state (state, since, idle_since, wrap_up_until, call, reason)."""
    return f"{prefix}agent:{agent_id}"


def agent_claims(prefix: str) -> str:
    """Counter: every claim of an agent for a caller gets the next number (ordering)."""
    return f"{prefix}agent-claims"


def agent_events(prefix: str) -> str:
    """Pub/sub channel: an agent became available (waiting callers look again)."""
    return f"{prefix}agent-events"


def worker_heartbeat(prefix: str, worker_id: str) -> str:
    """String with a TTL: the worker is alive while it exists (refreshed every second)."""
    return f"{prefix}worker-alive:{worker_id}"


def workers(prefix: str) -> str:
    """Hash: worker id -> JSON (its API address, pid, last start); kept after it stops."""
    return f"{prefix}workers"


def files_to_delete(prefix: str, worker_id: str) -> str:
    """Set: JSON [ticket_id, started_at] of calls whose files this worker's node must delete."""
    return f"{prefix}privacy:files-to-delete:{worker_id}"


def dials_of_number(prefix: str, day: str, limit: int, uri: str) -> str:
    """Counter (expires after two days): dials of ``uri`` on ``day`` under limit ``limit``."""
    return f"{prefix}dials:{day}:{limit}:{uri}"


def dials_of_day(prefix: str, day: str, limit: int) -> str:
    """Counter (expires after two days): dials on ``day`` under dialling limit ``limit``."""
    return f"{prefix}dials:{day}:{limit}"


def desk_call(prefix: str, agent_id: str) -> str:
    """Hash (expires after a day): the call ringing an agent or last connected to them,
    as their desk shows it (pop JSON, phase, times, wrapped up)."""
    return f"{prefix}desk-call:{agent_id}"


def link_signing_key(prefix: str) -> str:
    """String: the key every node signs short-lived links with (set once, never expires)."""
    return f"{prefix}link-signing-key"


def agent_probe_round(prefix: str) -> str:
    """String (expires after one probe interval): the worker probing agents' phones
    this round (agent_phone.probe_interval_seconds)."""
    return f"{prefix}agent-probe-round"


def live_bridge(prefix: str, call_id: str) -> str:
    """String (JSON, expires after 4 h): a call bridged to an agent, the worker carrying
    it and the supervisor's monitor on it (ivr.agents.monitor)."""
    return f"{prefix}bridge:{call_id}"


def dialog(prefix: str, call_id: str, from_tag: str) -> str:
    """String (expires after DIALOG_CLAIM_SECONDS): the worker call that took the INVITE
    with this Call-ID and From tag; a copy of it re-routed to another worker is refused."""
    return f"{prefix}dialog:{call_id}:{from_tag}"


def desk_commands(prefix: str) -> str:
    """Pub/sub channel: an agent desk's command (escalate, complete, cancel) for a call,
    carried out by the worker carrying that call."""
    return f"{prefix}desk-commands"


def desk_command_answer(prefix: str, command_id: str) -> str:
    """String (expires after a minute): the answer of the worker that took a desk command."""
    return f"{prefix}desk-command:{command_id}"


def single_runner(prefix: str, job: str) -> str:
    """String (expires unless renewed, ivr.state.single_runner): the worker that runs
    ``job`` for the whole cluster now (the help desk's delivery and read-back)."""
    return f"{prefix}single-runner:{job}"
