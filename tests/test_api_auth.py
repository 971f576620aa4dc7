"""API tokens and roles on a real service: who may read, who may change what, and
the audit row every change (refused ones too) leaves in the ticket store."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.service import RunningService, api_token_item, run_ivr, start_service
from support.tickets import Seed, seed_tickets

from ivr.api.tokens import TokenBook
from ivr.config import load_config
from ivr.exceptions import ConfigError

TOKENS = {
    "viewer-1": ("viewer", "tok-viewer-0123456789", None),
    "agent-a1": ("agent", "tok-agent-a1-0123456789", "a1"),
    "supervisor": ("agent", "tok-agent-any-0123456789", None),
    "ops-1": ("operator", "tok-operator-0123456789", None),
}
CONFIG = """\
log_level: INFO
agents:
  - {id: a1, uri: "sip:6001@127.0.0.1", queues: [desk]}
  - {id: a2, uri: "sip:6002@127.0.0.1", queues: [desk]}
queues:
  desk: {}
"""


def token(name: str) -> str:
    return TOKENS[name][1]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    items = ",".join(api_token_item(n, r, t, a) for n, (r, t, a) in TOKENS.items())
    workdir = tmp_path_factory.mktemp("auth")
    running = start_service(workdir, env={"IVR_API_TOKENS": items}, config_text=CONFIG)
    yield running
    running.stop()


def raw_get(service: RunningService, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{service.http_port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers


def test_health_metrics_and_the_page_are_open(service: RunningService) -> None:
    for path in ("/api/health", "/metrics", "/", "/static/dashboard.js"):
        assert raw_get(service, path, {})[0] == 200, path


def test_reads_need_a_known_token(service: RunningService) -> None:
    status, body = service.api("/api/tickets", token=None)
    assert status == 401 and "Bearer" in body["error"]
    assert raw_get(service, "/api/tickets", {})[1]["WWW-Authenticate"] == "Bearer"
    assert raw_get(service, "/api/calls", {"Authorization": "Basic eDp5"})[0] == 401
    status, body = service.api("/api/tickets", token="tok-never-issued")
    assert status == 401 and body == {"error": "token not recognised"}
    for path in ("/api/tickets", "/api/calls", "/api/agents", "/api/stats", "/api/dashboard"):
        assert service.api(path, token=token("viewer-1"))[0] == 200, path
    assert service.api("/api/whoami", token=token("agent-a1")) == (
        200,
        {"name": "agent-a1", "role": "agent", "agent_id": "a1"},
    )
    status, body = service.api("/api/audit", token=token("ops-1"))
    assert status == 403 and body["error"] == "role operator may not audit.read (needs admin)"


def test_each_change_needs_its_role_and_leaves_an_audit_row(service: RunningService) -> None:
    [ticket] = seed_tickets(
        f"sqlite:///{service.workdir / 'tickets.db'}", [Seed("5550101", 1_700_000_000.0)]
    )
    state = {"state": "available"}
    # (token name or None, method, path, body, status, audited action, target, outcome)
    cases: list[tuple[str | None, str, str, Any, int, str, str, str]] = [
        (None, "POST", "/api/dialplans/reload", None, 401, "dialplan.reload", "", "refused"),
        ("viewer-1", "POST", "/api/dialplans/reload", None, 403, "dialplan.reload", "", "refused"),
        ("agent-a1", "POST", "/api/dialplans/reload", None, 403, "dialplan.reload", "", "refused"),
        ("ops-1", "POST", "/api/dialplans/reload", None, 200, "dialplan.reload", "", "ok"),
        ("ops-1", "POST", "/api/dialplans/default/rollback", None, 409, "dialplan.rollback",
         "default", "failed"),
        ("agent-a1", "POST", "/api/agents/a1/state", state, 200, "agent.state", "a1", "ok"),
        ("agent-a1", "POST", "/api/agents/a2/state", state, 403, "agent.state", "a2", "refused"),
        ("viewer-1", "POST", "/api/agents/a1/state", state, 403, "agent.state", "a1", "refused"),
        ("supervisor", "POST", "/api/agents/a2/state", state, 200, "agent.state", "a2", "ok"),
        ("ops-1", "POST", "/api/agents/a2/state", {"state": "offline"}, 200, "agent.state", "a2",
         "ok"),
        ("supervisor", "PATCH", f"/api/tickets/{ticket}", {"note": "x"}, 403, "ticket.update",
         str(ticket), "refused"),
        ("ops-1", "PATCH", f"/api/tickets/{ticket}", {"work_status": "in_progress"}, 200,
         "ticket.update", str(ticket), "ok"),
        ("ops-1", "PATCH", "/api/tickets/999999", {"note": "x"}, 404, "ticket.update", "999999",
         "failed"),
        ("viewer-1", "POST", "/api/callbacks/cb1/priority", {"priority_seconds": 5}, 403,
         "callback.reprioritise", "cb1", "refused"),
        ("ops-1", "POST", "/api/callbacks/cb1/cancel", {}, 404, "callback.cancel", "cb1", "failed"),
    ]  # fmt: skip
    for name, method, path, body, expected, *_ in cases:
        sent = None if name is None else token(name)
        status, answer = service.api(path, method, body, token=sent)
        assert status == expected, (name, method, path, answer)
        assert isinstance(answer, dict)
        if status >= 400:
            assert answer["error"], (name, path)
    assert service.api(f"/api/tickets/{ticket}")[1]["work_status"] == "in_progress"
    assert service.api("/api/agents/a1/state", "POST", state, token=None)[0] == 401
    cases.append((None, "POST", "/api/agents/a1/state", state, 401, "agent.state", "a1", "refused"))

    status, body = service.api(f"/api/audit?limit={len(cases)}")
    assert status == 200
    rows = list(reversed(body["entries"]))
    seen = [(r["actor"], r["action"], r["target"], r["outcome"]) for r in rows]
    expected = [(c[0] or "-", c[5], c[6], c[7]) for c in cases]
    assert seen == expected
    refused = rows[1]
    assert refused["role"] == "viewer" and refused["detail"]["status"] == 403
    updated = rows[11]
    assert updated["role"] == "operator"
    assert updated["detail"]["body"] == {"work_status": "in_progress"}
    failed = rows[12]
    assert failed["detail"]["status"] == 404 and "999999" in failed["detail"]["error"]
    assert service.api("/api/audit?actor=agent-a1&outcome=refused")[1]["entries"][0]["target"] == (
        "a2"
    )
    log = service.log_text()
    assert "audit: ops-1 (operator) ticket.update" in log
    for _, secret, _ in TOKENS.values():
        assert secret not in log
    assert service.token not in log


def test_every_write_route_refuses_without_a_token(service: RunningService) -> None:
    status, body = service.api("/api/routes")
    assert status == 200
    writes = [r for r in body["routes"] if r["method"] not in ("GET", "HEAD", "OPTIONS")]
    assert {"/api/agents/{agent_id}/state", "/api/tickets/{ticket_id}"} <= {
        r["path"] for r in writes
    }
    for route in writes:
        assert route["role"] in ("agent", "operator", "supervisor", "admin"), route
        path = re.sub(r"\{[^}]+\}", "x1", route["path"])
        status, answer = service.api(path, route["method"], {}, token=None)
        assert status == 401 and answer["error"], route
        status, answer = service.api(path, route["method"], {}, token=token("viewer-1"))
        assert status == 403 and answer["error"], route
    reads = [r for r in body["routes"] if r["method"] == "GET"]
    assert all(r["role"] != "none" or r["path"] == "/api/health" for r in reads)


def test_a_new_token_from_the_command_line_configures_and_verifies(tmp_path: Path) -> None:
    made = run_ivr("api-token", "new", "--name", "wallboard", "--role", "viewer")
    assert made.returncode == 0, made.stderr
    secret = re.search(r"keep it secret\): (\S+)", made.stdout).group(1)  # type: ignore[union-attr]
    line = next(x for x in made.stdout.splitlines() if x.strip().startswith("- {name: wallboard"))
    assert secret not in line
    config = tmp_path / "ivr.yaml"
    config.write_text(f"api:\n  tokens:\n  {line}\n")
    settings = load_config(config, env={}).api
    caller = TokenBook(settings.tokens).verify(secret)
    assert caller is not None and (caller.name, caller.role.label) == ("wallboard", "viewer")
    assert TokenBook(settings.tokens).verify(secret + "x") is None

    bad = run_ivr("api-token", "new", "--name", "x", "--role", "viewer", "--agent-id", "1")
    assert bad.returncode == 2 and "only goes with role agent" in bad.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("api:\n  tokens: [{name: a, role: boss, sha256: " + "ab" * 32 + "}]\n", "role must be"),
        ("api:\n  tokens: [{name: a, role: viewer, sha256: " + "1" * 64 + "}]\n", "quoted text"),
        ("api:\n  tokens: [{name: a, role: viewer, sha256: abc}]\n", "64 hex digits"),
        ("api:\n  tokens: [{name: a, role: viewer}]\n", "'sha256' is required"),
        ("api:\n  tokens: [{name: a, role: viewer, sha256: " + "ab" * 32 + ", pw: x}]\n",
         "unknown key 'pw'"),
        ("api:\n  secret: x\n", "unknown setting 'api.secret'"),
    ],
)  # fmt: skip
def test_a_bad_token_setting_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "ivr.yaml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        load_config(config, env={})
    assert str(config) in str(caught.value)


def test_the_environment_replaces_the_file_tokens(tmp_path: Path) -> None:
    config = tmp_path / "ivr.yaml"
    config.write_text("api:\n  tokens: [{name: a, role: viewer, sha256: " + "0" * 64 + "}]\n")
    env = {"IVR_API_TOKENS": api_token_item("b", "agent", "t", "a7")}
    [only] = load_config(config, env=env).api.tokens
    assert (only.name, only.role.label, only.agent_id) == ("b", "agent", "a7")
    with pytest.raises(ConfigError, match="environment variable IVR_API_TOKENS: item 'b:agent'"):
        load_config(config, env={"IVR_API_TOKENS": "b:agent"})
