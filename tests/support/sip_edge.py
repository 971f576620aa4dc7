"""The service behind its SIP edge (Kamailio with admission) and hand-made requests for
the edge tests; SIPp runs from the addresses below through :mod:`support.sipp`."""

from __future__ import annotations

import hashlib
import json
import socket
import urllib.request
import uuid
from pathlib import Path

import pytest

from support.harness import wait_until
from support.nodes import RunningNode, node_env, start_node
from support.service import machine_redis_url
from support.sip_messages import final_message

# 127.0.0.1 is the PBX (and the test harness); 127.0.0.2 a trunk; 127.0.0.3 a stranger.
PBX, TRUNK, STRANGER = "127.0.0.1", "127.0.0.2", "127.0.0.3"
# A read-only API token for the edge tests' own look at tickets and calls.
VIEWER_TOKEN = "sipedge_" + uuid.uuid4().hex


def start_edge_node(workdir: Path, admission_yaml: str, extra_yaml: str = "") -> RunningNode:
    """``ivr serve`` (one worker) with ``sip.admission`` given as YAML lines under it."""
    redis_url = machine_redis_url()
    if redis_url is None:
        pytest.skip("needs a Redis on 127.0.0.1:6379 shared by the edge's worker")
    prefix = f"ivrtest:{uuid.uuid4().hex[:8]}:"
    env = node_env(
        workdir, f"edge-{workdir.name}", redis_url, f"sqlite:///{workdir / 'tickets.db'}", prefix
    )
    env["IVR_API_TOKENS"] = f"sipedge:viewer:{hashlib.sha256(VIEWER_TOKEN.encode()).hexdigest()}"
    indented = "".join(f"    {line}\n" for line in admission_yaml.strip().splitlines())
    config = f"log_level: INFO\nsip:\n  admission:\n    enabled: true\n{indented}{extra_yaml}"
    return start_node(workdir, 1, env, config)


def api_get(node: RunningNode, path: str) -> object:
    """GET ``path`` from the node's (first) worker with the viewer token; the JSON body."""
    url = f"http://127.0.0.1:{node.http_ports[0]}{path}"
    headers = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as reply:
        return json.loads(reply.read())


def live_calls(node: RunningNode) -> int:
    body = api_get(node, "/api/calls")
    assert isinstance(body, dict)
    return len(body["calls"])


def menu_is_up(node: RunningNode) -> bool:
    """Whether the one live call stands at the default plan's main menu."""
    body = api_get(node, "/api/calls")
    assert isinstance(body, dict)
    return [call.get("node") for call in body["calls"]] == ["main_menu"]


def closed_tickets(node: RunningNode, caller: str, count: int) -> list[dict[str, object]]:
    """The tickets of ``caller`` once ``count`` of them are closed (not live)."""

    def closed() -> list[dict[str, object]] | None:
        body = api_get(node, f"/api/tickets?caller={caller}&limit=500")
        assert isinstance(body, dict)
        tickets: list[dict[str, object]] = body["tickets"]
        done = [t for t in tickets if t["disposition"] != "live"]
        return tickets if len(done) >= count else None

    return list(wait_until(closed, 60, f"{count} closed tickets of {caller}"))


def request(
    method: str, target_port: int, *, headers: tuple[str, ...] = (), body: str = ""
) -> bytes:
    """A request of ``method`` to the edge, with a fresh Call-ID; :func:`send` fills in
    the transport and the local address."""
    lines = [
        f"{method} sip:100@127.0.0.1:{target_port} SIP/2.0",
        "Via: SIP/2.0/{transport} {local};branch=z9hG4bK" + uuid.uuid4().hex,
        "From: <sip:5001@{local}>;tag=" + uuid.uuid4().hex[:8],
        f"To: <sip:100@127.0.0.1:{target_port}>",
        f"Call-ID: {uuid.uuid4().hex}",
        f"CSeq: 1 {method}",
        "Contact: <sip:5001@{local}>",
        "Max-Forwards: 70",
        *headers,
        f"Content-Length: {len(body.encode())}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def send(
    message: bytes,
    target_port: int,
    *,
    source: str = PBX,
    transport: str = "udp",
    timeout: float = 3.0,
) -> str | None:
    """Send ``message`` ({transport}/{local} in it filled in) and return the first final
    response (whole), or None when nothing final came within ``timeout`` seconds."""
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.settimeout(timeout)
        sock.bind((source, 0))
        local = f"{source}:{sock.getsockname()[1]}"
        text = message.replace(b"{transport}", transport.upper().encode()).replace(
            b"{local}", local.encode()
        )
        if transport == "udp":
            sock.sendto(text, ("127.0.0.1", target_port))
        else:
            sock.connect(("127.0.0.1", target_port))
            sock.sendall(text)
        return final_response(sock)


def final_response(sock: socket.socket) -> str | None:
    """The head of the first non-1xx response read from ``sock``; None on timeout or
    close."""
    try:
        return final_message(sock).partition("\r\n\r\n")[0]
    except (TimeoutError, ConnectionError):
        return None


def status_code(response: str | None) -> int | None:
    return None if response is None else int(response.split()[1])
