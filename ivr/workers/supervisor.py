"""``ivr serve --workers N``: N call workers on one node with Kamailio in front.

The supervisor itself takes no calls. It starts (in this order) the Redis the
workers share (an embedded server when ``redis.url`` is unset), the workers —
each ``ivr serve`` in its own process, worker ``i`` (1..N) on SIP port
``sip.listen + i`` and HTTP port ``http.listen + i - 1``, id
``<worker_id>-w<i>`` — and Kamailio on ``sip.listen`` with a config written from
ours. A worker that exits is started again (its previous calls are closed as
failed when it comes back, see :mod:`ivr.workers.heartbeat`); Kamailio stops
sending it calls until it answers probes again.

SIGTERM / SIGINT: every worker gets SIGTERM (each drains its calls for
``shutdown_grace_seconds``), then Kamailio and Redis stop.

Kamailio is also the SIP edge: with ``sip.admission`` or ``sip.tls`` enabled it
runs even in front of one worker (see :func:`edge_required`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from ivr.config import Config, HostPort
from ivr.edge.front import FrontConfig, Worker, check_edge_ports
from ivr.edge.kamailio import find_kamailio, kamailio_command
from ivr.edge.render import write_config
from ivr.state.redis_server import RedisConnection

log = logging.getLogger(__name__)

WORKER_START_TIMEOUT_SECONDS = 90.0
RESTART_BACKOFF_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)
# A child that ran this long before it died is restarted without delay.
STABLE_RUN_SECONDS = 60.0
OUTPUT_DRAIN_SECONDS = 2.0
# Set in every worker's environment: it is behind an edge and never starts one.
BEHIND_EDGE_ENV = "IVR_SIP_BEHIND_EDGE"


def edge_required(config: Config, count: int, env: Mapping[str, str] | None = None) -> bool:
    """True when this process must run Kamailio in front of its worker(s): several
    workers, or SIP admission or TLS configured; never inside a worker behind an edge."""
    env = os.environ if env is None else env
    if env.get(BEHIND_EDGE_ENV) == "1":
        return False
    return count > 1 or config.sip.admission.enabled or config.sip.tls.enabled


def new_calls_share(per_worker: int, count: int, cores: int) -> int:
    """A worker's ``sip.max_new_calls_per_second`` on a node of ``count`` workers: the
    setting is what one worker on a core of its own takes, so workers that outnumber
    the cores share the cores' worth. A burst of new calls is CPU work (answers,
    tickets, first prompts): four workers on two cores each taking 40 a second damaged
    calls where two did not (bench/RESULTS.md, 2026-12-06)."""
    if count <= cores:
        return per_worker
    return max(1, per_worker * cores // count)


@dataclass(frozen=True)
class WorkerSpec:
    name: str
    sip: HostPort
    http: HostPort


def worker_specs(config: Config, count: int) -> tuple[WorkerSpec, ...]:
    """Worker ``i`` (1..count): SIP on ``sip.listen`` port + i, HTTP on ``http.listen`` + i - 1."""
    sip, http = config.sip.listen, config.http.listen
    return tuple(
        WorkerSpec(
            name=f"{config.worker_id}-w{i}",
            sip=HostPort(sip.host, sip.port + i),
            http=HostPort(http.host, http.port + i - 1),
        )
        for i in range(1, count + 1)
    )


class _Child:
    """One supervised process; its output is copied to ours, each line tagged."""

    def __init__(self, tag: str, command: list[str], env: dict[str, str]) -> None:
        self.tag = tag
        self.command = command
        self.env = env
        self.process: asyncio.subprocess.Process | None = None
        self.started_at = 0.0
        self._copy: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self.command,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C reaches the supervisor only, which stops us in order
        )
        self.started_at = time.monotonic()
        self._copy = asyncio.create_task(self._copy_output(), name=f"output-{self.tag}")

    async def _copy_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        async for line in self.process.stdout:
            sys.stdout.write(f"[{self.tag}] {line.decode(errors='replace')}")
            sys.stdout.flush()

    async def wait(self) -> int:
        assert self.process is not None
        code = await self.process.wait()
        if self._copy is not None:
            # A grandchild may hold the pipe open after the child is gone.
            await asyncio.wait([self._copy], timeout=OUTPUT_DRAIN_SECONDS)
            self._copy.cancel()
        return code

    def signal(self, signum: int) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signum)

    def kill_group(self) -> None:
        """SIGKILL whatever is left of the child's session (e.g. Kamailio's children)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)


class Supervisor:
    def __init__(self, config: Config, count: int, config_path: Path | None) -> None:
        self._config = config
        self._count = count
        self._config_path = config_path
        self._stopping = asyncio.Event()
        self._children: list[_Child] = []

    async def run(self) -> None:
        config = self._config
        redis = RedisConnection(config.redis)
        await redis.start()
        try:
            await self._run(redis.url)
        finally:
            await redis.close()

    async def _run(self, redis_url: str) -> None:
        config = self._config
        specs = worker_specs(config, self._count)
        front = FrontConfig(
            listen=config.sip.listen,
            transports=config.sip.transports,
            workers=tuple(Worker(s.name, s.sip, config.sip.max_calls) for s in specs),
            probe_interval_seconds=config.workers.probe_interval_seconds,
            admission=config.sip.admission,
            tls=config.sip.tls,
        )
        check_edge_ports(front)
        if config.sip.admission.enabled and not config.sip.admission.allow:
            log.warning("sip.admission.allow is empty: SIP from any source address is admitted")
        binary = find_kamailio(config.workers.kamailio)
        run_dir = config.workers.run_dir
        kamailio_config = await asyncio.get_running_loop().run_in_executor(
            None, write_config, front, run_dir, binary
        )
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._stopping.set)

        workers = [self._worker(spec, redis_url) for spec in specs]
        for child, spec in zip(workers, specs, strict=True):
            # One at a time: the first migrates the ticket database alone.
            await child.start()
            await self._wait_healthy(child, spec)
        kamailio = _Child(
            "kamailio", kamailio_command(binary, kamailio_config, run_dir), dict(os.environ)
        )
        await kamailio.start()
        self._children = [*workers, kamailio]
        log.info(
            "%d call workers behind Kamailio on %s (SIP %s; APIs %s)",
            len(workers),
            config.sip.listen,
            ", ".join(str(s.sip) for s in specs),
            ", ".join(f"http://{s.http}" for s in specs),
        )
        keepers = [
            asyncio.create_task(self._keep_running(child), name=f"keep-{child.tag}")
            for child in self._children
        ]
        await self._stopping.wait()
        log.info("stopping: workers drain their calls, then Kamailio stops")
        for child in workers:
            child.signal(signal.SIGTERM)
        grace = config.shutdown_grace_seconds + 30
        done = await asyncio.wait([asyncio.ensure_future(c.wait()) for c in workers], timeout=grace)
        if done[1]:
            log.warning("workers still running after %.0f s: killing them", grace)
            for child in workers:
                child.signal(signal.SIGKILL)
        kamailio.signal(signal.SIGTERM)
        for keeper in keepers:
            keeper.cancel()
        await asyncio.gather(*keepers, return_exceptions=True)
        for child in self._children:
            if child.process is not None and child.process.returncode is None:
                await asyncio.wait([asyncio.ensure_future(child.wait())], timeout=10)
            child.kill_group()
            await child.wait()
        log.info("stopped")

    def _worker(self, spec: WorkerSpec, redis_url: str) -> _Child:
        env = dict(os.environ)
        env.update(
            IVR_SIP_LISTEN=str(spec.sip),
            IVR_HTTP_LISTEN=str(spec.http),
            IVR_WORKER_ID=spec.name,
            REDIS_URL=redis_url,
            IVR_WORKERS="1",
            IVR_MAX_NEW_CALLS_PER_SECOND=str(
                new_calls_share(
                    self._config.sip.max_new_calls_per_second,
                    self._count,
                    self._config.workers.cores or len(os.sched_getaffinity(0)),
                )
            ),
            PYTHONUNBUFFERED="1",
        )
        env[BEHIND_EDGE_ENV] = "1"
        command = [sys.executable, "-m", "ivr", "serve", "--workers", "1"]
        if self._config_path is not None:
            command += ["--config", str(self._config_path)]
        return _Child(spec.name, command, env)

    async def _wait_healthy(self, child: _Child, spec: WorkerSpec) -> None:
        url = f"http://{spec.http}/api/health"
        deadline = time.monotonic() + WORKER_START_TIMEOUT_SECONDS
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while time.monotonic() < deadline and not self._stopping.is_set():
                assert child.process is not None
                if child.process.returncode is not None:
                    log.error(
                        "worker %s exited at start (code %s)", spec.name, child.process.returncode
                    )
                    return
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(url) as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.2)
        log.error("worker %s not healthy after %.0f s", spec.name, WORKER_START_TIMEOUT_SECONDS)

    async def _keep_running(self, child: _Child) -> None:
        failures = 0
        while True:
            code = await child.wait()
            if self._stopping.is_set():
                return
            ran = time.monotonic() - child.started_at
            failures = 0 if ran > STABLE_RUN_SECONDS else failures + 1
            delay = RESTART_BACKOFF_SECONDS[
                min(max(failures - 1, 0), len(RESTART_BACKOFF_SECONDS) - 1)
            ]
            log.error(
                "%s exited (code %s) after %.0f s; starting it again in %.0f s",
                child.tag,
                code,
                ran,
                delay,
            )
            await asyncio.sleep(delay)
            if self._stopping.is_set():
                return
            await child.start()


async def run_workers(config: Config, count: int, config_path: Path | None) -> None:
    """Run ``count`` workers and Kamailio until SIGTERM/SIGINT (see the module doc)."""
    await Supervisor(config, count, config_path).run()
