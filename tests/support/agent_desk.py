"""The agent desk under test: a service whose dial plan hands a caller who presses 1
to the helpdesk queue, with a caller directory and the agents' tokens, for its page
in headless Chromium (:func:`desk_service`); and reading that page (signing in, the
text of elements, the call's phase, the agent's state)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from peers.chromium import CHROMIUM, Browser

from support.service import RunningService, start_service

CALLER = "5550142"  # in the directory: Li Wei, Finance, E1042
OTHER_CALLER = "5550177"  # in the directory: Zhou Min, IT, E2077
PLAN = """plan: default
voice: en
record: false
start: main
nodes:
  main:
    type: menu
    say: "For a password reset, press 1. To end the call, press 2."
    keys: {"1": to_agent, "2": bye}
    timeout: 10
    tries: 1
    fallback: bye
  to_agent: {type: transfer, queue: helpdesk, next: bye, fallback: bye}
  bye: {type: hangup, say: "Goodbye."}
"""
DIRECTORY = f"""number,employee_id,name,department,vip
{CALLER},E1042,Li Wei,Finance,no
{OTHER_CALLER},E2077,Zhou Min,IT,no
"""
# The agents' phones register with the PBX; only their extensions may be dialled.
CONFIG_HEAD = """sip: {{rtp_timeout_seconds: 300}}
directory_csv: {directory}
dialling:
  allow: ['^sip:{extensions}@127\\.0\\.0\\.1:{port}$']
  extension_uri: "sip:{{extension}}@127.0.0.1:{port}"
"""

PHASE = "document.getElementById('call-phase').dataset.phase"
STATE = "document.getElementById('state').dataset.state"


@contextmanager
def desk_service(
    workdir: Path,
    pbx_port: int,
    center: str,
    extensions: str,
    tokens: list[str],
    env: dict[str, str] | None = None,
) -> Iterator[RunningService]:
    """The service in ``workdir`` with :data:`PLAN` and :data:`DIRECTORY`; ``center`` is
    the YAML of its agents and queues, ``extensions`` the regular expression of the
    extensions it may dial at the PBX on ``pbx_port``; ``tokens`` are ``IVR_API_TOKENS``
    items (:func:`support.service.api_token_item`). Stopped at the end. Fails the test
    when Chromium is not installed."""
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (make test installs the Debian package chromium)")
    plans = workdir / "plans"
    plans.mkdir()
    (plans / "default.yaml").write_text(PLAN)
    directory = workdir / "directory.csv"
    directory.write_text(DIRECTORY)
    head = CONFIG_HEAD.format(directory=directory, extensions=extensions, port=pbx_port)
    running = start_service(
        workdir / "service",
        plans,
        env={**(env or {}), "IVR_API_TOKENS": ",".join(tokens)},
        config_text=head + center,
    )
    try:
        yield running
    finally:
        running.stop()


async def sign_in(page: Browser, token: str) -> None:
    """Sign in on the desk page with ``token``; returns once the desk shows a state."""
    await page.wait_for("!document.getElementById('login').hidden", 10, "the sign-in form")
    await page.evaluate(f"document.getElementById('token').value = {json.dumps(token)}")
    await page.click("#login button[type=submit]")
    await page.wait_for(STATE, 10, "the desk")


def text_of(*ids: str) -> str:
    """JavaScript: {id: visible text} of the elements ``ids``."""
    return (
        "Object.fromEntries("
        + json.dumps(list(ids))
        + ".map(id => [id, document.getElementById(id).textContent.trim()]))"
    )
