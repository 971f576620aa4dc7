"""``ivr kamailio run|probe``: Kamailio in front of workers that run elsewhere.

Where each call worker is its own container or host (docker/compose.yaml),
``ivr kamailio run --worker w1=10.0.0.11:5060 --worker w2=10.0.0.12:5060``
writes the same config ``ivr serve --workers`` writes (listening on
``sip.listen``) and replaces itself with Kamailio, so Kamailio gets the
signals. ``ivr kamailio probe`` sends one OPTIONS to ``sip.listen`` (a health check).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ivr.config import load_config
from ivr.config_values import parse_host_port
from ivr.edge.front import FrontConfig, check_edge_ports, parse_worker
from ivr.edge.kamailio import find_kamailio, kamailio_command
from ivr.edge.probe import probe
from ivr.edge.render import write_config
from ivr.exceptions import IvrError


def run_front(config_path: Path | None, workers: list[str]) -> int:
    """Write the config and exec Kamailio; returns only on an error (exit status)."""
    try:
        config = load_config(config_path)
        front = FrontConfig(
            listen=config.sip.listen,
            transports=config.sip.transports,
            workers=tuple(parse_worker(w, config.sip.max_calls) for w in workers),
            probe_interval_seconds=config.workers.probe_interval_seconds,
            admission=config.sip.admission,
            tls=config.sip.tls,
        )
        check_edge_ports(front)
        binary = find_kamailio(config.workers.kamailio)
        kamailio_config = write_config(front, config.workers.run_dir, binary)
    except (IvrError, ValueError) as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return 2
    if not front.workers:
        print("ivr: give at least one --worker NAME=HOST:PORT", file=sys.stderr)
        return 2
    command = kamailio_command(binary, kamailio_config, config.workers.run_dir)
    sys.stdout.flush()
    os.execv(command[0], command)
    return 1  # not reached


def probe_front(config_path: Path | None, address: str | None) -> int:
    """0 when ``address`` (default: ``sip.listen``) answers OPTIONS with 200, else 1."""
    try:
        target = parse_host_port(address) if address else load_config(config_path).sip.listen
    except (IvrError, ValueError) as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return 2
    if probe(target):
        return 0
    print(f"ivr: no SIP answer from {target}", file=sys.stderr)
    return 1
