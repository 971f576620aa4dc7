"""docker/ kept honest without a Docker engine: the compose file's own commands,
settings and health checks run here on loopback (addresses, URLs and /data
paths mapped), and ``docker compose config`` checks the file where a client runs."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.harness import PYTHON, REPO, free_port, wait_until
from support.nodes import NODE_ADMIN_TOKEN, RunningNode
from support.service import api_token_item
from support.sipp import run_sipp

COMPOSE = REPO / "docker" / "compose.yaml"
DOCKERFILE = REPO / "docker" / "Dockerfile"
IVR_SERVICES = ("worker-1", "worker-2", "callback-dispatcher", "kamailio")


def _compose_client() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_file_is_valid_for_the_docker_client() -> None:
    client = _compose_client()
    if client is None:
        pytest.skip("no docker compose client installed")
    checked = subprocess.run(
        [*client, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr


def test_compose_has_what_the_issue_lists_with_health_checks_and_volumes() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert set(services) == {"redis", "postgres", *IVR_SERVICES}
    assert "--appendonly" in services["redis"]["command"]
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
    for name in ("worker-1", "worker-2"):
        assert "recordings:/data/recordings" in services[name]["volumes"]
        assert "models:/data/models" in services[name]["volumes"]


def _image_env() -> dict[str, str]:
    """The ENV the Dockerfile sets (one ENV instruction with continuations)."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(re.findall(r"(\w+)=(\S+)", line))
    return env


@dataclass
class Mapping:
    """Container addresses and paths -> loopback ports and a temporary folder."""

    replacements: dict[str, str]

    def apply(self, value: str) -> str:
        for old, new in self.replacements.items():
            value = value.replace(old, new)
        return value


@pytest.fixture
def compose_on_loopback(
    tmp_path: Path, shared_redis_url: str, postgres_url: str
) -> Iterator[tuple[dict[str, Any], Mapping, dict[str, subprocess.Popen[bytes]]]]:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    replacements: dict[str, str] = {}
    for name in IVR_SERVICES:
        address = services[name]["networks"]["ivr"]["ipv4_address"]
        replacements[f"{address}:5060"] = f"127.0.0.1:{free_port()}"
    env_common = services["worker-1"]["environment"]
    replacements[env_common["REDIS_URL"]] = shared_redis_url
    replacements[env_common["DATABASE_URL"]] = postgres_url
    replacements["/data/"] = f"{tmp_path}/data/"
    replacements["/app/"] = f"{REPO}/"
    mapping = Mapping(replacements)
    image_env = {key: mapping.apply(value) for key, value in _image_env().items()}
    prefix = f"ivrtest:{uuid.uuid4().hex[:8]}:"
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name in IVR_SERVICES:
            service = services[name]
            http_port = free_port()
            local = Mapping({**replacements, "0.0.0.0:8080": f"127.0.0.1:{http_port}"})
            env = {
                **os.environ,
                **image_env,
                **{k: local.apply(str(v)) for k, v in service["environment"].items()},
                "IVR_REDIS_KEY_PREFIX": prefix,
                "IVR_WORKERS_RUN_DIR": str(tmp_path / name / "run"),
                "IVR_SHUTDOWN_GRACE": "5",
                # What an operator adds (the compose file holds no secrets).
                "IVR_API_TOKENS": api_token_item("test-admin", "admin", NODE_ADMIN_TOKEN),
            }
            if "REDIS_URL" not in service["environment"]:
                env.pop("REDIS_URL", None)
            command = [local.apply(arg) for arg in service["command"]]
            assert command[0] == "ivr"
            (tmp_path / name).mkdir()
            log = (tmp_path / name / "log").open("wb")
            processes[name] = subprocess.Popen(
                [PYTHON, "-m", "ivr", *command[1:]],
                cwd=tmp_path / name,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            health = [
                local.apply(str(a)).replace("127.0.0.1:8080", f"127.0.0.1:{http_port}")
                for a in service["healthcheck"]["test"][1:]
            ]
            if health[0] == "ivr":
                health = [PYTHON, "-m", "ivr", *health[1:]]
            elif health[0] == "python":
                health = [PYTHON, *health[1:]]

            def healthy(health: list[str] = health, env: dict[str, str] = env) -> bool:
                for process_name, process in processes.items():
                    if process.poll() is not None:
                        log_text = (tmp_path / process_name / "log").read_text()
                        raise AssertionError(f"{process_name} exited:\n{log_text[-3000:]}")
                return subprocess.run(health, env=env, capture_output=True).returncode == 0

            wait_until(healthy, 90, f"{name}'s health check")
            services[name]["http_port"] = http_port
        yield compose, mapping, processes
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_compose_services_run_with_their_commands_and_take_calls_through_kamailio(
    compose_on_loopback: tuple[dict[str, Any], Mapping, dict[str, subprocess.Popen[bytes]]],
    tmp_path: Path,
) -> None:
    compose, mapping, processes = compose_on_loopback
    services = compose["services"]
    kamailio_sip = mapping.apply(services["kamailio"]["environment"]["IVR_SIP_LISTEN"])
    result = run_sipp(
        "menu_key1_rfc2833.xml",
        kamailio_sip,
        "5300",
        calls=6,
        rate=10,
        workdir=tmp_path / "sipp",
        timeout=60,
    )
    assert result.returncode == 0, result.errors[-3000:]
    worker_2 = RunningNode(
        processes["worker-2"],
        tmp_path,
        0,
        [services["worker-2"]["http_port"]],
        "worker",
        tmp_path / "worker-2" / "log",
    )

    def closed() -> list[Any] | None:
        tickets: list[Any] = worker_2.api("/api/tickets?caller=5300")[1]["tickets"]
        return (
            tickets
            if len(tickets) == 6 and all(t["disposition"] == "completed" for t in tickets)
            else None
        )

    tickets = wait_until(closed, 30, "6 completed tickets")
    assert {t["worker_id"] for t in tickets} == {"worker-1", "worker-2"}
    # The recordings volume is shared: any worker serves any call's recording.
    for ticket in tickets:
        status, body = worker_2.api(f"/api/tickets/{ticket['id']}/recording")
        assert status == 200 and body[:4] == b"RIFF"
    for name, process in processes.items():
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, (tmp_path / name / "log").read_text()[-2000:]
