"""The ``ivr`` command's own answers: its version, and what to do when the API
wants a token (the real API middleware on loopback answers the command)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from importlib.metadata import version
from pathlib import Path

import pytest
from aiohttp import web
from support.harness import free_port
from support.service import api_token_item

from ivr.api.app import _plan_action, errors_as_json
from ivr.api.auth import AUDIT_LOG, TOKENS, access_control
from ivr.api.tokens import TokenBook, parse_api_settings
from ivr.tickets.audit import AuditQuery
from ivr.tickets.store import TicketStore, open_store

OPERATOR_TOKEN = "operator-secret-for-the-cli-test"
VIEWER_TOKEN = "viewer-secret-for-the-cli-test"


async def run_ivr(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ivr",
        *args,
        env={**clean, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_version_comes_from_the_package_metadata() -> None:
    code, out, _ = await run_ivr("--version")
    assert code == 0
    assert out.strip() == f"ivr {version('hotline-ivr')}"


@pytest.fixture
async def audit_store(tmp_path: Path) -> AsyncIterator[TicketStore]:
    store = open_store(f"sqlite:///{tmp_path / 'tickets.db'}")
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def plan_api(audit_store: TicketStore) -> AsyncIterator[str]:
    """The API's access control and plan rollback route on loopback; no plan behind it,
    so an authorised rollback fails with 503 (the tests only send refused ones)."""
    tokens = parse_api_settings(
        None,
        "test",
        {
            "IVR_API_TOKENS": ",".join(
                [
                    api_token_item("ops", "operator", OPERATOR_TOKEN),
                    api_token_item("look", "viewer", VIEWER_TOKEN),
                ]
            )
        },
    ).tokens
    app = web.Application(middlewares=[errors_as_json, access_control])
    app[TOKENS] = TokenBook(tokens)
    app[AUDIT_LOG] = audit_store
    app.router.add_post("/api/dialplans/{name}/rollback", _plan_action("rollback"))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_no_token_says_to_set_ivr_api_token(plan_api: str, audit_store: TicketStore) -> None:
    code, _, err = await run_ivr("dialplan", "rollback", "default", "--url", plan_api)
    assert code == 1
    assert "a token is required: set IVR_API_TOKEN to an operator's token" in err, err
    [refused] = await audit_store.audit_entries(AuditQuery())
    assert (refused.action, refused.outcome) == ("dialplan.rollback", "refused")


async def test_a_weak_token_names_ivr_api_token(plan_api: str) -> None:
    code, _, err = await run_ivr(
        "dialplan", "rollback", "default", "--url", plan_api, env={"IVR_API_TOKEN": VIEWER_TOKEN}
    )
    assert code == 1
    assert "role viewer may not dialplan.rollback" in err and "IVR_API_TOKEN" in err, err
