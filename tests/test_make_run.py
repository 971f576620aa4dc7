"""``make run`` on a fresh clone sets itself up and answers a call."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest
from support.harness import REPO, free_port, wait_until
from support.service import api_token_item, new_admin_token
from support.sipp import run_sipp


def test_make_run_on_a_fresh_clone_answers_a_call(tmp_path: Path) -> None:
    if shutil.which("make") is None or shutil.which("git") is None:
        pytest.fail("make and git are needed")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    sip_port, http_port = free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("IVR_", "VIRTUAL_ENV")) and key not in ("REDIS_URL", "DATABASE_URL")
    }
    env.update(IVR_SIP_LISTEN=f"127.0.0.1:{sip_port}", IVR_HTTP_LISTEN=f"127.0.0.1:{http_port}")
    token = new_admin_token()  # the API needs one even on the defaults
    env["IVR_API_TOKENS"] = api_token_item("test-viewer", "viewer", token)
    log = (tmp_path / "make-run.log").open("wb")
    process = subprocess.Popen(
        ["make", "run"],
        cwd=clone,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def healthy() -> bool:
        assert process.poll() is None, (tmp_path / "make-run.log").read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/health", timeout=2):
                return True
        except OSError:
            return False

    try:
        wait_until(healthy, 600, "make run to install and start the service")
        result = run_sipp(
            "menu_key1_rfc2833.xml", f"127.0.0.1:{sip_port}", "9001", workdir=tmp_path / "sipp"
        )
        assert result.returncode == 0, result.errors
        tickets = urllib.request.Request(
            f"http://127.0.0.1:{http_port}/api/tickets?caller=9001",
            headers={"Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(tickets, timeout=5) as response:
            assert b'"disposition": "completed"' in response.read()
        assert (clone / "var" / "tickets.db").is_file()
        assert list((clone / "recordings").rglob("*.wav"))
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(60)
