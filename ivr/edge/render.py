"""The Kamailio front for several call workers: its config, written from ours.

Kamailio's dispatcher sends each new INVITE to the worker with the fewest live
calls (algorithm 10, its own call tracking by Call-ID), probes every worker
with OPTIONS each ``probe_interval_seconds`` and takes one that does not
answer within ``PROBE_TIMEOUT_MS`` out of the set until it answers again. An
INVITE that a worker does not answer within ``INVITE_ANSWER_TIMEOUT_MS``
(killed between two probes) or refuses with 5xx goes to the next worker, so a
caller only notices a delay.

Kamailio record-routes, so in-dialog requests of the worker (its re-INVITE,
BYE) pass it and the call load is released on BYE. A peer that sends its
in-dialog requests to Kamailio without the Route set (SIPp does) is routed by
Call-ID to the worker that took the call.

The routing lives in the template ``kamailio.cfg.in``; admission, TLS and the
call cap come from :mod:`ivr.edge.policy`.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from ivr.edge import policy as edge_policy
from ivr.edge.front import FrontConfig
from ivr.edge.kamailio import check_config, modules_dir

# The routing part of kamailio.cfg, a str.format template (literal braces
# doubled) shipped as package data beside this module.
TEMPLATE_NAME = "kamailio.cfg.in"
DISPATCHER_SET = 1
# A worker that does not answer a probe within this long is taken out. A live
# worker answers in milliseconds; a busy one (hundreds of calls on one core) can
# take a second or more, and taking it out then would pile its share onto the others.
PROBE_TIMEOUT_MS = 2000
# Probes missed in a row before a worker is taken out: one slow answer under load
# is not death. A dead worker is out after about probe interval + 2 s + 1 s.
PROBE_FAILURES = 2
# An INVITE with no answer at all after this long is re-routed to the next worker
# (the worker is not taken out for that: the probes decide).
INVITE_ANSWER_TIMEOUT_MS = 4000
# The edge stamps each INVITE it relays with the time it left (Unix seconds); a worker
# that takes one up later than STALE_INVITE_SECONDS after that refuses it: by then the
# edge may re-route it, and answering both copies would answer the caller twice.
EDGE_TIME_HEADER = "X-Ivr-Edge-Time"
STALE_INVITE_SECONDS = INVITE_ANSWER_TIMEOUT_MS / 1000 - 1
# In-dialog requests (BYE, re-INVITE) wait for an answer as long as SIP's timer F.
IN_DIALOG_TIMEOUT_MS = 32000
# Call-ID -> worker entries (for peers without the Route set) outlive any call.
CALL_ROUTE_EXPIRE_SECONDS = 4 * 3600


def dispatcher_list(front: FrontConfig) -> str:
    """The dispatcher list file: one line per worker, probed (flag 8), with its load key
    and its ``maxload`` (the worker's ``max_calls``, never above ``MAX_CALLS_PER_WORKER``)."""
    lines = ["# written by ivr serve --workers; do not edit (rewritten on every start)"]
    for worker in front.workers:
        lines.append(
            f"{DISPATCHER_SET} sip:{worker.sip} 8 0 "
            f"duid={worker.name};maxload={worker.max_calls} {worker.name}"
        )
    return "\n".join(lines) + "\n"


@cache
def template() -> str:
    """The kamailio.cfg template, read from the installed package."""
    return resources.files("ivr.edge").joinpath(TEMPLATE_NAME).read_text(encoding="utf-8")


def render_config(
    front: FrontConfig, list_file: Path, tls_config: Path | None = None, *, modules: Path
) -> str:
    """kamailio.cfg for ``front``; the dispatcher list is read from ``list_file``, the TLS
    settings (when TLS is enabled) from ``tls_config``, Kamailio's modules from ``modules``."""
    policy = front.policy()
    listen = front.listen
    listens = "\n".join(f"listen={t}:{listen.host}:{listen.port}" for t in front.transports)
    return template().format(
        listens=listens,
        host=listen.host,
        port=listen.port,
        children=front.children,
        modules=modules,
        list_file=list_file,
        probe=front.probe_interval_seconds,
        probe_timeout=PROBE_TIMEOUT_MS,
        probe_failures=PROBE_FAILURES,
        in_dialog_timeout=IN_DIALOG_TIMEOUT_MS,
        invite_timeout=INVITE_ANSWER_TIMEOUT_MS,
        route_expire=CALL_ROUTE_EXPIRE_SECONDS,
        set=DISPATCHER_SET,
        edge_globals=edge_policy.globals_block(policy),
        edge_modules=edge_policy.modules_block(policy, tls_config),
        edge_routes=edge_policy.routes_block(policy),
        in_dialog_tracking=edge_policy.in_dialog_tracking(policy),
        allowed_methods=edge_policy.ALLOWED_METHODS,
        retry_after=edge_policy.RETRY_AFTER_SECONDS,
        edge_time_header=EDGE_TIME_HEADER,
    )


def write_config(front: FrontConfig, directory: Path, binary: Path) -> Path:
    """Write kamailio.cfg and dispatcher.list into ``directory`` and check them.

    Raises:
        KamailioError: Kamailio's modules are not found, or ``kamailio -c`` refused the
            config (its message included).
    """
    directory.mkdir(parents=True, exist_ok=True)
    list_file = directory / "dispatcher.list"
    list_file.write_text(dispatcher_list(front))
    tls_config = None
    if front.tls.enabled:
        tls_config = directory / "tls.cfg"
        tls_config.write_text(edge_policy.tls_config_text(front.tls))
    config = directory / "kamailio.cfg"
    # It may hold digest HA1 values: readable by this user only.
    config.touch(mode=0o600)
    config.chmod(0o600)
    config.write_text(render_config(front, list_file, tls_config, modules=modules_dir(binary)))
    check_config(binary, config)
    return config
