"""pjsua2 phones, each its own process (``tests/peers``): a caller that follows steps
(:func:`run_phone`), and agents and customers registered with the PBX that answer,
talk a tone and record (:class:`Phone`); and an agent's state through the API."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peers.kamailio import PASSWORD, Kamailio

from support.harness import PYTHON, REPO
from support.service import RunningService

CALLER_PHONE = REPO / "tests" / "peers" / "pj_phone.py"
AGENT_PHONE = REPO / "tests" / "peers" / "pj_agent.py"
AGENT_TONE_HZ = 700
CALLER_TONE_HZ = 1100


@dataclass
class PhoneResult:
    ok: bool
    heard: list[dict[str, Any]]
    events: list[dict[str, Any]]
    error: str
    recording: Path


def run_phone(
    uri: str,
    steps: list[list[Any]],
    recording: Path,
    caller: str = "2001",
    timeout: float = 90,
    env: dict[str, str] | None = None,
) -> PhoneResult:
    """Call ``uri`` from a pjsua2 phone (its own process) and follow ``steps``."""
    completed = subprocess.run(
        # -X faulthandler: a native crash of pjsua2 prints the step it died in.
        [PYTHON, "-X", "faulthandler", CALLER_PHONE, uri, recording, json.dumps(steps), caller],
        capture_output=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )
    lines = completed.stdout.decode(errors="replace").strip().splitlines()
    if not lines or not lines[-1].startswith("{"):
        raise AssertionError(
            f"the phone ended without its result (exit status {completed.returncode}): "
            f"{completed.stderr.decode(errors='replace')[-3000:]}"
        )
    result = json.loads(lines[-1])
    return PhoneResult(
        result["ok"], result["heard"], result["events"], result.get("error", ""), recording
    )


class Phone:
    """A pj_agent.py process; its JSON events arrive on a queue as it prints them."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.process = subprocess.Popen(
            [PYTHON, str(AGENT_PHONE), json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.events: list[dict[str, Any]] = []
        self._arrivals: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{"):
                event = json.loads(line)
                self.events.append(event)
                self._arrivals.put(event)

    def wait_for(self, kind: str, timeout: float = 30) -> dict[str, Any]:
        for event in self.events:
            if event["event"] == kind:
                return event
        while True:
            try:
                event = self._arrivals.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"phone: no {kind!r} in {timeout} s: {self.events}") from None
            if event["event"] == kind:
                return event

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind]

    def hang_up(self) -> None:
        """Hang up every call the phone has."""
        assert self.process.stdin is not None
        self.process.stdin.write("hangup\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def agent_phone(pbx: Kamailio, extension: str, workdir: Path, **options: Any) -> Phone:
    """A phone registered as ``extension`` with ``pbx``, answering up to 1000 calls."""
    phone = Phone(
        {
            "role": "agent",
            "user": extension,
            "registrar": pbx.address,
            "password": PASSWORD,
            "tone_hz": AGENT_TONE_HZ,
            "record_dir": str(workdir / f"agent-{extension}"),
            "calls": 1000,
            "timeout": 240,
            **options,
        }
    )
    phone.wait_for("registered", 20)
    return phone


def caller_phone(
    service: RunningService, did: str, workdir: Path, user: str, **options: Any
) -> Phone:
    """A phone calling ``did`` at the service as ``user``."""
    return Phone(
        {
            "role": "caller",
            "user": user,
            "uri": f"sip:{did}@{service.sip_uri_host}",
            "tone_hz": CALLER_TONE_HZ,
            "record_dir": str(workdir / f"caller-{user}"),
            "timeout": 90,
            **options,
        }
    )


def set_state(service: RunningService, agent: str, state: str) -> dict[str, Any]:
    status, body = service.api(f"/api/agents/{agent}/state", "POST", {"state": state})
    assert status == 200, body
    return body


def agent_state(service: RunningService, agent: str) -> dict[str, Any]:
    _, body = service.api("/api/agents")
    return next(a for a in body["agents"] if a["id"] == agent)
