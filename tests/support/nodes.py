"""A node as operations run it: ``ivr serve --workers N`` (Kamailio in front), as a process."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peers.kamailio import answers_sip

from support.harness import PYTHON, REPO, free_port_block, stop_process, wait_until
from support.service import api_token_item, new_admin_token

# Every node of a test session accepts this admin token: a node relays a recording
# request to another with the caller's own token.
NODE_ADMIN_TOKEN = new_admin_token()


@dataclass
class RunningNode:
    process: subprocess.Popen[bytes]
    workdir: Path
    sip_port: int  # Kamailio: the node's one SIP address
    http_ports: list[int]  # worker i's API at http_ports[i - 1]
    node_id: str
    log_path: Path
    token: str = NODE_ADMIN_TOKEN  # None-able per call: api(..., token=None)
    env: dict[str, str] = field(default_factory=dict)  # what it was started with

    @property
    def sip_uri_host(self) -> str:
        return f"127.0.0.1:{self.sip_port}"

    def worker_id(self, index: int) -> str:
        """A single worker runs under the node's id; several as ``<node>-w<i>``."""
        return self.node_id if len(self.http_ports) == 1 else f"{self.node_id}-w{index}"

    def api(
        self,
        path: str,
        worker: int = 1,
        method: str = "GET",
        body: Any = None,
        token: str | None = NODE_ADMIN_TOKEN,
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        url = f"http://127.0.0.1:{self.http_ports[worker - 1]}{path}"
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
                if response.headers.get("Content-Type", "").startswith("audio/"):
                    return response.status, raw
                return response.status, json.loads(raw or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def healthy(self, worker: int) -> bool:
        try:
            return self.api("/api/health", worker)[0] == 200
        except OSError:
            return False

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 90) -> int:
        return stop_process(self.process, timeout, "node")


def node_env(
    workdir: Path, node_id: str, redis_url: str, database_url: str, key_prefix: str
) -> dict[str, str]:
    """The settings a node runs with (the same the docker compose file gives)."""
    return {
        "IVR_DIALPLAN_DIR": str(REPO / "dialplans"),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "IVR_REDIS_KEY_PREFIX": key_prefix,
        "IVR_RECORDINGS_DIR": str(workdir / "recordings"),
        "IVR_CACHE_DIR": str(REPO / "var" / "test-cache"),
        "IVR_DIALPLAN_VERSIONS_DIR": str(workdir / "dialplan-versions"),
        "IVR_WORKERS_RUN_DIR": str(workdir / "run"),
        "IVR_WORKER_ID": node_id,
        "IVR_SHUTDOWN_GRACE": "5",
        "IVR_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }


def start_node(
    workdir: Path,
    workers: int,
    env: dict[str, str],
    config_text: str = "log_level: WARNING\n",
) -> RunningNode:
    """Start ``ivr serve --workers N`` and wait until Kamailio and every worker answer."""
    workdir.mkdir(parents=True, exist_ok=True)
    sip_port = free_port_block(workers + 1)
    http_first = free_port_block(workers)
    config = workdir / "ivr.yaml"
    config.write_text(config_text)
    full_env = {
        **os.environ,
        "IVR_API_TOKENS": api_token_item("test-admin", "admin", NODE_ADMIN_TOKEN),
        **env,
        "IVR_SIP_LISTEN": f"127.0.0.1:{sip_port}",
        "IVR_HTTP_LISTEN": f"127.0.0.1:{http_first}",
    }
    log_path = workdir / "node.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [PYTHON, "-m", "ivr", "serve", "--workers", str(workers), "--config", str(config)],
            cwd=workdir,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    node = RunningNode(
        process,
        workdir,
        sip_port,
        [http_first + i for i in range(workers)],
        env["IVR_WORKER_ID"],
        log_path,
        env=env,
    )

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"node exited at start:\n{node.log_text()[-3000:]}")
        return answers_sip(sip_port) and all(node.healthy(i) for i in range(1, workers + 1))

    wait_until(up, 120, "Kamailio and every worker of the node")
    return node


@contextmanager
def running_node(
    workdir: Path,
    workers: int,
    node_id: str,
    redis_url: str,
    database_url: str,
    extra_env: dict[str, str] | None = None,
) -> Iterator[RunningNode]:
    """A node of its own key prefix, stopped cleanly (exit 0) at the end."""
    env = node_env(workdir, node_id, redis_url, database_url, f"ivrtest:{uuid.uuid4().hex[:8]}:")
    env.update(extra_env or {})
    node = start_node(workdir, workers, env)
    yield node
    assert node.stop() == 0, node.log_text()[-3000:]


def worker_pid(redis_url: str, key_prefix: str, worker_id: str) -> int:
    """The pid a worker published in Redis (keys.workers)."""
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        raw = client.hget(f"{key_prefix}workers", worker_id)
    finally:
        client.close()
    assert raw, f"worker {worker_id} never announced itself"
    return int(json.loads(str(raw))["pid"])
