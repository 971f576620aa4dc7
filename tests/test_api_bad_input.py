"""Bad input at every API endpoint (listed from the service's own route table, so a
new endpoint is covered the day it is added): malformed JSON, wrong types,
out-of-range values, huge bodies, unknown ids, junk query strings. Each gets a
4xx with a JSON reason, never a 500, and the service stays healthy."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from support.service import RunningService, start_service

CONFIG = """\
agents:
  - {id: a1, uri: "sip:6001@127.0.0.1", queues: [desk]}
queues:
  desk: {}
"""
# Writes that take no body: a body is ignored, so it may succeed; it must not fail.
BODYLESS = {
    "/api/dialplans/reload",
    "/api/dialplans/{name}/promote",
    "/api/dialplans/{name}/rollback",
    "/api/callers/{number}",
}
UNKNOWN_IDS = [
    "does-not-exist",
    "0",
    "99999999999999999999999999",
    "-1",
    "x" * 3000,
    quote("a/../../b", safe=""),
    quote("\u202e\u0000😀", safe=""),
]
BAD_BODIES: list[bytes] = [
    b"",
    b"{not json",
    b"\xff\xfe\xfd",
    b"null",
    b"[]",
    b'"text"',
    b"12",
    b"[" * 100_000 + b"]" * 100_000,  # nesting deeper than any parser's recursion
    json.dumps(
        {
            "state": ["available"],
            "priority_seconds": "soon",
            "work_status": 7,
            "assignee": {"name": "x"},
            "note": ["x"],
            "author": 5,
            "reason": {"why": 1},
        }
    ).encode(),
    b'{"state": "sleeping", "priority_seconds": -1, "work_status": "done"}',
    b'{"priority_seconds": 1e999, "note": ""}',
    b'{"priority_seconds": NaN, "assignee": "   "}',
    b'{"note": "' + b"n" * 20_000 + b'"}',
    b'{"author": "me"}',
    b'{"unexpected": true}',
    b'{"state": "available", "state": 1}',
]
HUGE_BODY = b'{"note": "' + b"x" * (2 * 1024 * 1024) + b'"}'
BAD_QUERIES = [
    "?limit=-1",
    "?limit=99999999999999999999",
    "?offset=x",
    "?from=yesterday&to=never",
    "?since=2020-13-45&until=%ff",
    "?state=sleeping",
    "?disposition=" + "z" * 5000,
    "?nonsense=1",
    "?from=1e999",
    "?from=nan",
    "?local=1&limit=0",
]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    running = start_service(tmp_path_factory.mktemp("bad-input"), config_text=CONFIG)
    yield running
    running.stop()


def send(
    service: RunningService, method: str, path: str, body: bytes | None = None
) -> tuple[int, bytes, str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{service.http_port}{path}",
        data=body,
        method=method,
        headers={**service.auth_headers(), "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "")


def assert_answered_with_reason(status: int, raw: bytes, kind: str, what: str) -> None:
    assert status < 500, f"{what}: {status} {raw[:300]!r}"
    if status >= 400:
        assert kind.startswith("application/json"), f"{what}: {status} {kind} {raw[:200]!r}"
        reason = json.loads(raw)["error"]
        assert isinstance(reason, str) and reason, what


@pytest.fixture(scope="module")
def routes(service: RunningService) -> list[dict[str, str]]:
    status, body = service.api("/api/routes")
    assert status == 200
    listed: list[dict[str, str]] = body["routes"]
    paths = {r["path"] for r in listed}
    # The table is the service's own: these are in it, so the others are too.
    assert {"/api/tickets/{ticket_id}", "/api/agents/{agent_id}/state", "/api/audit"} <= paths
    return listed


def with_ids(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, path)


def test_unknown_and_malformed_ids_get_a_reason(
    service: RunningService, routes: list[dict[str, str]]
) -> None:
    for route in routes:
        if "{" not in route["path"]:
            continue
        for value in UNKNOWN_IDS:
            path = with_ids(route["path"], value)
            body = None if route["method"] == "GET" else b"{}"
            status, raw, kind = send(service, route["method"], path, body)
            what = f"{route['method']} {path[:80]}"
            assert_answered_with_reason(status, raw, kind, what)
            if route["path"] not in BODYLESS:
                assert 400 <= status < 500, f"{what}: {status} {raw[:200]!r}"


def test_bad_bodies_at_every_write_get_a_4xx_with_the_reason(
    service: RunningService, routes: list[dict[str, str]]
) -> None:
    writes = [r for r in routes if r["method"] not in ("GET", "HEAD", "OPTIONS")]
    assert writes
    for route in writes:
        path = with_ids(route["path"], "a1")
        for body in [*BAD_BODIES, HUGE_BODY]:
            status, raw, kind = send(service, route["method"], path, body)
            what = f"{route['method']} {path} with {body[:60]!r}"
            assert_answered_with_reason(status, raw, kind, what)
            if route["path"] not in BODYLESS:
                assert 400 <= status < 500, f"{what}: {status} {raw[:200]!r}"


def test_junk_query_strings_at_every_read_never_fail(
    service: RunningService, routes: list[dict[str, str]]
) -> None:
    reads = [r for r in routes if r["method"] == "GET" and not r["path"].endswith("/stream")]
    for route in reads:
        path = with_ids(route["path"], "1")
        for query in BAD_QUERIES:
            status, raw, kind = send(service, "GET", path + query)
            assert_answered_with_reason(status, raw, kind, f"GET {path}{query[:60]}")


def test_the_service_is_healthy_after_all_of_it(service: RunningService) -> None:
    status, health = service.api("/api/health")
    assert status == 200 and health["status"] == "ok"
    assert service.api("/api/tickets")[0] == 200
    log = service.log_text()
    assert "Traceback" not in log and "Error handling request" not in log, log[-3000:]
    status, audit = service.api("/api/audit?outcome=failed&limit=5")
    assert status == 200 and len(audit["entries"]) == 5
