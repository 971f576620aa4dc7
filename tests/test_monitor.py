"""A supervisor listens in on a live bridged call, whispers to the agent, barges in.

A pjsua2 caller (a 440 Hz tone) is transferred to a pjsua2 agent phone (1000 Hz);
a supervisor's pjsua2 phone (1800 Hz) is dialled through the PBX by
``POST /api/calls/{id}/monitor``. Every phone records what it hears; the spectrum of
each mode's stretch says who heard whom: listen, the supervisor hears both and nobody
hears the supervisor; whisper, the agent hears the supervisor and the caller does
not; barge, everyone hears everyone. Roles below supervisor and extensions outside
the dialling patterns are refused without a dial, and every use is audited. The
dashboard's buttons do the same; on a node of two workers, the worker without the
call relays the requests to the one carrying it; the caller hanging up hangs the
supervisor up.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from peers.chromium import CHROMIUM, Browser
from peers.kamailio import Kamailio
from support.harness import ARTIFACTS, wait_until
from support.nodes import NODE_ADMIN_TOKEN, node_env, start_node
from support.phones import Phone, agent_phone, caller_phone, set_state
from support.service import RunningService, api_token_item, start_service

CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ = 440, 1000, 1800
SUPERVISOR_TOKEN = "monitor_supervisor_token_for_tests"
OPERATOR_TOKEN = "monitor_operator_token_for_tests"
VIEWER_TOKEN = "monitor_viewer_token_for_tests"
AGENT_TOKEN = "monitor_agent_token_for_tests"
PHASE_SECONDS = 2.4
SETTLE_SECONDS = 0.8  # from a mode's change to the stretch measured: dial, jitter buffers
PLAN = """plan: default
voice: en
record: false
start: to_agent
nodes:
  to_agent: {type: transfer, queue: helpdesk, next: bye, fallback: bye}
  bye: {type: hangup, say: "Goodbye."}
"""
CONFIG = """sip: {{rtp_timeout_seconds: 300}}
dialling:
  allow: ['^sip:6[19]\\d\\d@127\\.0\\.0\\.1:{port}$']
  extension_uri: "sip:{{extension}}@127.0.0.1:{port}"
agents:
  - {{id: a1, name: Alice Wang, extension: "6101", queues: [helpdesk]}}
queues:
  helpdesk: {{wrap_up_seconds: 1}}
"""


@pytest.fixture(scope="module")
def service(pbx: Kamailio, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    workdir = tmp_path_factory.mktemp("monitor")
    plans = workdir / "plans"
    plans.mkdir()
    (plans / "default.yaml").write_text(PLAN)
    tokens = ",".join(
        [
            api_token_item("sup-alice", "supervisor", SUPERVISOR_TOKEN),
            api_token_item("ops-bob", "operator", OPERATOR_TOKEN),
            api_token_item("wallboard", "viewer", VIEWER_TOKEN),
            api_token_item("agent-a1", "agent", AGENT_TOKEN, "a1"),
        ]
    )
    running = start_service(
        workdir / "service",
        plans,
        env={"IVR_API_TOKENS": tokens},
        config_text=CONFIG.format(port=pbx.port),
    )
    yield running
    running.stop()


def tone_shares(path: Path, media_at: float, start: float, end: float) -> dict[int, float]:
    """Share of the energy at each tone (±20 Hz) of what a phone recorded between the
    Unix times ``start`` and ``end`` (its recording began at ``media_at``)."""
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    first, last = int((start - media_at) * rate), int((end - media_at) * rate)
    chunk = samples[max(first, 0) : last].astype(np.float64)
    assert len(chunk) > rate, f"{path.name}: only {len(chunk)} samples in the stretch"
    frames = chunk[: len(chunk) // 160 * 160].reshape(-1, 160)
    levels = np.sqrt((frames**2).mean(axis=1))
    # No gaps in what was heard: the 20 ms frames carry the sound (a mix that ran dry or
    # dropped audio would leave quiet frames; one in twenty is let go on a busy machine).
    quiet = float((levels < 0.5 * np.median(levels)).mean())
    assert quiet <= 0.05, (path.name, quiet)
    power = np.abs(np.fft.rfft(chunk * np.hanning(len(chunk)))) ** 2
    freqs = np.fft.rfftfreq(len(chunk), 1 / rate)
    total = power.sum() or 1.0
    return {
        hz: float(power[(freqs > hz - 20) & (freqs < hz + 20)].sum() / total)
        for hz in (CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ)
    }


def heard(shares: dict[int, float]) -> set[int]:
    """The tones that stand out (a tenth of the energy or more); asserts the others are
    absent rather than faint (under 1%)."""
    loud = {hz for hz, share in shares.items() if share >= 0.1}
    unclear = {hz for hz, share in shares.items() if 0.01 <= share < 0.1}
    assert not unclear, shares
    return loud


def monitor(
    service: RunningService, call_id: str, method: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    return service.api(
        f"/api/calls/{call_id}/monitor", method, body, token=token or SUPERVISOR_TOKEN
    )


def live_bridged_call(service: RunningService) -> str:
    def bridged() -> str | None:
        _, body = service.api("/api/calls")
        for call in body["calls"]:
            if monitor(service, call["call_id"], "GET")[0] == 200:
                return str(call["call_id"])
        return None

    return str(wait_until(bridged, 30, "the caller bridged to the agent"))


def audit(service: RunningService, action: str, *targets: str) -> list[dict[str, Any]]:
    """The audit rows of ``action`` on ``targets``, oldest first."""
    status, body = service.api(f"/api/audit?action={action}")
    assert status == 200, body
    return [row for row in reversed(body["entries"]) if row["target"] in targets]


def media_start(phone: Phone) -> tuple[float, Path]:
    event = phone.wait_for("media", 20)
    return float(event["at"]), Path(phone.wait_for("ended", 30)["recording"])


async def log_in(page: Browser, token: str) -> None:
    await page.wait_for("!document.getElementById('login').hidden", 10, "the login form")
    await page.evaluate(f"document.getElementById('token').value = {json.dumps(token)}")
    await page.click("#login button[type=submit]")


async def open_live_call(page: Browser, base: str, token: str, call_id: str) -> None:
    row = f"#calls tbody tr[data-call-id={json.dumps(call_id)}]"
    await page.goto(base + "/")
    await log_in(page, token)
    await page.wait_for(f"document.querySelector({json.dumps(row)}) !== null", 10, "the call")
    await page.click(row)
    await page.wait_for(
        "document.getElementById('timeline').dataset.kind === 'live'", 10, "its live timeline"
    )


MODE = "document.getElementById('monitor').dataset.mode"
STATE = "document.getElementById('monitor-state').textContent"


async def dashboard_session(service: RunningService, call_id: str) -> dict[str, Any]:
    base = f"http://127.0.0.1:{service.http_port}"
    seen: dict[str, Any] = {}
    async with Browser(lang="en-US") as page:
        await open_live_call(page, base, SUPERVISOR_TOKEN, call_id)
        await page.wait_for("!document.getElementById('monitor').hidden", 10, "Listen in")
        seen["off"] = await page.evaluate(STATE)
        await page.evaluate("document.getElementById('monitor-extension').value = '6901'")
        await page.click("#monitor button[data-mode='listen']")
        await page.wait_for(f"{MODE} === 'listen'", 20, "listening")
        seen["listen"] = await asyncio.to_thread(monitor, service, call_id, "GET")
        await page.click("#monitor button[data-mode='whisper']")
        await page.wait_for(f"{MODE} === 'whisper'", 10, "whispering")
        seen["whisper"] = await asyncio.to_thread(monitor, service, call_id, "GET")
        seen["whisper_state"] = await page.evaluate(STATE)
        seen["pressed"] = await page.evaluate(
            "Array.from(document.querySelectorAll('#monitor button[aria-pressed=true]'))"
            ".map(b => b.dataset.mode)"
        )
        await page.screenshot(ARTIFACTS / "dashboard-monitor-whisper-en.png")
        await page.click("#lang-switch button[data-lang='zh']")
        seen["zh"] = await page.evaluate(
            "Array.from(document.querySelectorAll('#monitor button:not([hidden])'))"
            ".map(b => b.textContent)"
        )
        await page.click("#lang-switch button[data-lang='en']")
        await page.click("#monitor-end")
        await page.wait_for(f"{MODE} === ''", 10, "the monitor ended")
        seen["ended"] = await asyncio.to_thread(monitor, service, call_id, "GET")
        await page.click("#logout")
        await page.wait_for("!document.getElementById('login').hidden", 10, "logged out")
        seen["logged_out"] = await page.evaluate("document.getElementById('monitor').hidden")
    # A viewer's dashboard offers nothing of the kind (the API answers it 403).
    async with Browser(lang="en-US") as page:
        await open_live_call(page, base, VIEWER_TOKEN, call_id)
        await asyncio.sleep(1.5)  # a snapshot or two: the monitor's read has come back
        seen["viewer"] = await page.evaluate("document.getElementById('monitor').hidden")
    return seen


async def test_the_dashboard_rings_the_supervisor_and_switches_modes(
    service: RunningService, pbx: Kamailio, tmp_path: Path
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (make test installs the Debian package chromium)")
    agent = agent_phone(pbx, "6101", tmp_path, tone_hz=AGENT_HZ)
    supervisor = agent_phone(pbx, "6901", tmp_path, tone_hz=SUPERVISOR_HZ)
    caller: Phone | None = None
    try:
        await asyncio.to_thread(set_state, service, "a1", "available")
        caller = caller_phone(service, "4357", tmp_path, "5550101", tone_hz=CALLER_HZ)
        call_id = await asyncio.to_thread(live_bridged_call, service)
        seen = await dashboard_session(service, call_id)
        await asyncio.to_thread(supervisor.wait_for, "ended", 10)
        caller.hang_up()
        await asyncio.to_thread(caller.wait_for, "ended", 10)
    finally:
        for phone in (caller, agent, supervisor):
            if phone is not None:
                phone.stop()
    assert seen["off"].startswith("Not listening."), seen
    assert seen["listen"][0] == 200 and seen["listen"][1]["monitor"]["mode"] == "listen", seen
    assert seen["listen"][1]["monitor"]["by"] == "sup-alice", seen
    assert seen["whisper"][1]["monitor"]["mode"] == "whisper", seen
    assert seen["whisper_state"] == "Whisper · 6901 · sup-alice", seen
    assert seen["pressed"] == ["whisper"], seen
    assert seen["zh"] == ["监听", "耳语", "强插", "结束"], seen
    assert seen["ended"][1]["monitor"] is None, seen
    assert seen["logged_out"] is True and seen["viewer"] is True, seen
    audited = [
        (row["action"], row["actor"], row["outcome"])
        for action in ("call.monitor", "call.monitor_mode", "call.monitor_end")
        for row in audit(service, action, call_id)
    ]
    assert audited == [
        ("call.monitor", "sup-alice", "ok"),
        ("call.monitor_mode", "sup-alice", "ok"),
        ("call.monitor_end", "sup-alice", "ok"),
    ], audited


# It measures gaps in the audio three phones recorded: run alone (make test's serial
# part), since on a machine loaded by other tests frames go missing (in the mix or in
# the test's own phones) and the gaps say nothing about the service.
@pytest.mark.serial
def test_a_supervisor_listens_whispers_and_barges_on_a_bridged_call(
    service: RunningService, pbx: Kamailio, tmp_path: Path
) -> None:
    agent = agent_phone(pbx, "6101", tmp_path, tone_hz=AGENT_HZ)
    supervisor = agent_phone(pbx, "6901", tmp_path, tone_hz=SUPERVISOR_HZ)
    # A second supervisor presses 2 (whisper) on their phone, then hangs up.
    quitting = agent_phone(
        pbx,
        "6902",
        tmp_path,
        tone_hz=SUPERVISOR_HZ,
        dtmf={"digits": "2", "after": 0.5},
        talk_seconds=1.5,
    )
    caller: Phone | None = None
    try:
        set_state(service, "a1", "available")
        caller = caller_phone(service, "4357", tmp_path, "5550100", tone_hz=CALLER_HZ)
        call_id = live_bridged_call(service)

        # Refused without a dial: roles below supervisor, a bad mode, an extension
        # outside dialling.allow.
        listen = {"mode": "listen", "extension": "6901"}
        for token in (VIEWER_TOKEN, AGENT_TOKEN, OPERATOR_TOKEN):
            status, body = monitor(service, call_id, "POST", listen, token)
            assert status == 403, body
        status, body = monitor(service, call_id, "POST", {"mode": "spy", "extension": "6901"})
        assert status == 400, body
        assert body["error"] == "mode must be one of listen, whisper, barge, not 'spy'"
        status, body = monitor(service, call_id, "POST", {"mode": "listen", "extension": "7001"})
        assert status == 403 and "matches no dialling.allow pattern" in body["error"], body
        status, body = monitor(service, "no-such-call", "POST", listen)
        assert status == 404, body
        assert not supervisor.of_kind("incoming")

        status, body = monitor(service, call_id, "POST", listen)
        assert status == 201, body
        assert body["monitor"]["mode"] == "listen" and body["agent_id"] == "a1", body
        marks = {"listen": time.time()}
        time.sleep(PHASE_SECONDS)
        status, body = monitor(service, call_id, "PATCH", {"mode": "whisper"})
        assert (status, body["monitor"]["mode"]) == (200, "whisper"), body
        marks["whisper"] = time.time()
        time.sleep(PHASE_SECONDS)
        status, body = monitor(service, call_id, "POST", {"mode": "barge", "extension": "6901"})
        assert (status, body["monitor"]["mode"]) == (200, "barge"), body
        marks["barge"] = time.time()
        time.sleep(PHASE_SECONDS)
        marks["end"] = time.time()
        status, body = monitor(service, call_id, "DELETE")
        assert (status, body["monitor"]) == (200, None), body
        supervisor.wait_for("ended", 10)
        status, body = monitor(service, call_id, "DELETE")
        assert status == 404, body

        # The second supervisor's key switches to whisper; their hang-up ends the monitor.
        status, body = monitor(service, call_id, "POST", {"mode": "barge", "extension": "6902"})
        assert status == 201, body
        quitting.wait_for("ended", 10)
        wait_until(
            lambda: monitor(service, call_id, "GET")[1]["monitor"] is None,
            10,
            "the monitor ended by the supervisor's hang-up",
        )

        caller.hang_up()
        caller_at, caller_wav = media_start(caller)
        agent_at, agent_wav = media_start(agent)
        supervisor_at, supervisor_wav = media_start(supervisor)
    finally:
        for phone in (caller, agent, supervisor, quitting):
            if phone is not None:
                phone.stop()

    phases = {"listen": "whisper", "whisper": "barge", "barge": "end"}
    hearing: dict[str, dict[str, set[int]]] = {}
    for mode, following in phases.items():
        start, end = marks[mode] + SETTLE_SECONDS, marks[following] - 0.1
        hearing[mode] = {
            "supervisor": heard(tone_shares(supervisor_wav, supervisor_at, start, end)),
            "agent": heard(tone_shares(agent_wav, agent_at, start, end)),
            "caller": heard(tone_shares(caller_wav, caller_at, start, end)),
        }
    assert hearing == {
        "listen": {
            "supervisor": {CALLER_HZ, AGENT_HZ},
            "agent": {CALLER_HZ},
            "caller": {AGENT_HZ},
        },
        "whisper": {
            "supervisor": {CALLER_HZ, AGENT_HZ},
            "agent": {CALLER_HZ, SUPERVISOR_HZ},
            "caller": {AGENT_HZ},
        },
        "barge": {
            "supervisor": {CALLER_HZ, AGENT_HZ},
            "agent": {CALLER_HZ, SUPERVISOR_HZ},
            "caller": {AGENT_HZ, SUPERVISOR_HZ},
        },
    }

    starts = [
        (r["actor"], r["outcome"], r["detail"].get("status"))
        for r in audit(service, "call.monitor", call_id, "no-such-call")
    ]
    assert starts == [
        ("wallboard", "refused", 403),
        ("agent-a1", "refused", 403),
        ("ops-bob", "refused", 403),
        ("sup-alice", "failed", 400),
        ("sup-alice", "failed", 403),
        ("sup-alice", "failed", 404),
        ("sup-alice", "ok", 201),
        ("sup-alice", "ok", 200),  # barge: the mode of the running monitor
        ("sup-alice", "ok", 201),
    ], starts
    modes = audit(service, "call.monitor_mode", call_id)
    assert [(r["actor"], r["detail"].get("body"), r["detail"].get("mode")) for r in modes] == [
        ("sup-alice", {"mode": "whisper"}, None),
        ("phone:6902", None, "whisper"),
    ], modes
    ends = [(r["actor"], r["outcome"]) for r in audit(service, "call.monitor_end", call_id)]
    assert ends == [("sup-alice", "ok"), ("sup-alice", "failed"), ("phone:6902", "ok")], ends

    [ticket] = service.tickets_of("5550100", 1)
    _, detail = service.api(f"/api/tickets/{ticket['id']}")
    kinds = [
        (e["kind"], e.get("mode") or e.get("reason"))
        for e in detail["events"]
        if e["kind"].startswith("monitor_")
    ]
    assert kinds == [
        ("monitor_started", "listen"),
        ("monitor_mode", "whisper"),
        ("monitor_mode", "barge"),
        ("monitor_ended", "ended"),
        ("monitor_started", "barge"),
        ("monitor_mode", "whisper"),
        ("monitor_ended", "supervisor hung up"),
    ], kinds


def test_a_monitor_asked_of_another_worker_is_relayed_to_the_worker_carrying_the_call(
    pbx: Kamailio, tmp_path: Path, shared_redis_url: str, postgres_url: str
) -> None:
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "default.yaml").write_text(PLAN)
    prefix = f"ivrtest:{uuid.uuid4().hex[:8]}:"
    env = node_env(tmp_path / "node", "mon", shared_redis_url, postgres_url, prefix)
    env["IVR_DIALPLAN_DIR"] = str(plans)
    env["IVR_API_TOKENS"] = ",".join(
        [
            api_token_item("test-admin", "admin", NODE_ADMIN_TOKEN),
            api_token_item("sup-alice", "supervisor", SUPERVISOR_TOKEN),
        ]
    )
    node = start_node(tmp_path / "node", 2, env, CONFIG.format(port=pbx.port))
    agent = agent_phone(pbx, "6101", tmp_path, tone_hz=AGENT_HZ)
    supervisor = agent_phone(pbx, "6901", tmp_path, tone_hz=SUPERVISOR_HZ)
    caller: Phone | None = None

    def on(worker: int, call_id: str, method: str, body: Any = None) -> tuple[int, Any]:
        path = f"/api/calls/{call_id}/monitor"
        return node.api(path, worker, method, body, token=SUPERVISOR_TOKEN)

    try:
        status, body = node.api("/api/agents/a1/state", 1, "POST", {"state": "available"})
        assert status == 200, body
        caller = caller_phone(node, "4357", tmp_path, "5550102", tone_hz=CALLER_HZ)

        def bridged() -> tuple[str, str] | None:
            for call in node.api("/api/calls")[1]["calls"]:
                status, body = on(1, call["call_id"], "GET")
                if status == 200:
                    return str(call["call_id"]), str(body["worker_id"])
            return None

        call_id, carrier = wait_until(bridged, 30, "the caller bridged to the agent")
        other = 2 if carrier == node.worker_id(1) else 1
        assert node.worker_id(other) != carrier

        status, body = on(other, call_id, "POST", {"mode": "barge", "extension": "6901"})
        assert (status, body["worker_id"], body["monitor"]["mode"]) == (201, carrier, "barge"), body
        supervisor.wait_for("answered", 10)
        status, body = on(other, call_id, "PATCH", {"mode": "listen"})
        assert (status, body["monitor"]["mode"]) == (200, "listen"), body
        assert on(other, call_id, "GET")[1]["monitor"]["mode"] == "listen"
        status, body = on(other, call_id, "DELETE")
        assert (status, body["monitor"]) == (200, None), body
        supervisor.wait_for("ended", 10)
        status, body = on(other, call_id, "DELETE")
        assert status == 404, body  # the carrier's answer, passed on

        # Listening again when the caller hangs up: the supervisor is hung up too.
        status, body = on(other, call_id, "POST", {"mode": "listen", "extension": "6901"})
        assert status == 201, body
        wait_until(lambda: len(supervisor.of_kind("answered")) == 2, 10, "the second ring")
        caller.hang_up()
        caller.wait_for("ended", 10)
        wait_until(lambda: len(supervisor.of_kind("ended")) == 2, 10, "the supervisor hung up")
        status, body = node.api("/api/audit?action=call.monitor")
        assert status == 200, body
        rows = [(r["actor"], r["outcome"]) for r in body["entries"] if r["target"] == call_id]
        assert rows == [("sup-alice", "ok")] * 4, rows  # the relaying worker and the carrier
        ticket_id = node.api("/api/tickets?caller=5550102")[1]["tickets"][0]["id"]
        ended = wait_until(
            lambda: [
                e
                for e in node.api(f"/api/tickets/{ticket_id}")[1]["events"]
                if e["kind"] == "monitor_ended"
            ][1:],
            10,
            "the ticket with the monitor's end",
        )
        assert ended[0]["reason"] == "bridge ended" and ended[0]["by"] == "the call", ended
    finally:
        for phone in (caller, agent, supervisor):
            if phone is not None:
                phone.stop()
        node.stop()
