"""The service as a process, as operations run it, and the ``ivr`` command.

Redis: the machine's server at 127.0.0.1:6379 when it answers (each service
gets its own key prefix), otherwise each service starts its embedded one.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import subprocess
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.harness import PYTHON, REPO, free_port, stop_process, wait_until


def machine_redis_url() -> str | None:
    """The machine's Redis on 127.0.0.1:6379 when it answers (and
    ``IVR_TEST_EMBEDDED_REDIS`` is not set), else None."""
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
    *args: str, stdin: str = "", env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The ``ivr`` command, as operations staff run it; ``env`` adds to the environment."""
    return subprocess.run(
        [PYTHON, "-m", "ivr", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
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
