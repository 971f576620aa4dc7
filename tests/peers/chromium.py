"""Headless Chromium (the Debian package) driven over its DevTools protocol.

Only what the dashboard tests need: open a page, evaluate JavaScript, click,
wait for a condition in the page, take a screenshot. Chromium runs as its own
process with a fresh profile; the protocol goes over a WebSocket (aiohttp).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
    "--window-size=1400,1100",
]


class PageError(AssertionError):
    """The page threw, or a condition did not hold in time."""


class Browser:
    """One Chromium process with one page; use as ``async with Browser() as page``."""

    def __init__(self, lang: str = "en-US") -> None:
        self._profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
        self._lang = lang
        self._process: subprocess.Popen[bytes] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self.console: list[str] = []

    async def __aenter__(self) -> Browser:
        self._process = subprocess.Popen(
            [
                CHROMIUM,
                *FLAGS,
                f"--lang={self._lang}",
                f"--user-data-dir={self._profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port = await self._debugging_port()
        self._session = aiohttp.ClientSession()
        async with self._session.get(f"http://127.0.0.1:{port}/json/list") as response:
            targets = await response.json(content_type=None)
        page = next(t for t in targets if t["type"] == "page")
        self._socket = await self._session.ws_connect(
            page["webSocketDebuggerUrl"], max_msg_size=64 * 1024 * 1024
        )
        await self.send("Page.enable")
        await self.send("Runtime.enable")
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._socket is not None:
            await self._socket.close()
        if self._session is not None:
            await self._session.close()
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self._profile, ignore_errors=True)

    async def _debugging_port(self) -> int:
        # Chromium writes the port it picked into the profile once it listens.
        active = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise PageError(f"chromium exited at start with {self._process.returncode}")
            if active.exists():
                lines = active.read_text().split()
                if lines:
                    return int(lines[0])
            await asyncio.sleep(0.05)
        raise PageError("chromium did not open its DevTools port in 30 s")

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One protocol command; its result (events that arrive meanwhile are kept
        as console lines where they are console messages, else dropped)."""
        assert self._socket is not None
        message_id = next(self._ids)
        await self._socket.send_str(
            json.dumps({"id": message_id, "method": method, "params": params})
        )
        while True:
            message = await asyncio.wait_for(self._socket.receive(), 30)
            if message.type != aiohttp.WSMsgType.TEXT:
                raise PageError(f"DevTools connection closed: {message}")
            data = json.loads(message.data)
            if data.get("method") == "Runtime.consoleAPICalled":
                args = data["params"]["args"]
                self.console.append(
                    " ".join(str(a.get("value", a.get("description"))) for a in args)
                )
            elif data.get("method") == "Runtime.exceptionThrown":
                self.console.append("exception: " + json.dumps(data["params"]["exceptionDetails"]))
            if data.get("id") == message_id:
                if "error" in data:
                    raise PageError(f"{method}: {data['error']}")
                result: dict[str, Any] = data["result"]
                return result

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'", 30, f"{url} loaded")

    async def evaluate(self, expression: str) -> Any:
        """The JSON value of ``expression`` in the page."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise PageError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float, what: str) -> Any:
        """Poll ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise PageError(
                    f"timed out after {timeout} s waiting for {what}; console: {self.console}"
                )
            await asyncio.sleep(0.1)

    async def click(self, selector: str) -> None:
        found = await self.evaluate(
            f"(() => {{ const n = document.querySelector({json.dumps(selector)});"
            " if (!n) return false; n.click(); return true; })()"
        )
        if not found:
            raise PageError(f"nothing matches {selector!r}")

    async def screenshot(self, path: Path) -> None:
        result = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(result["data"]))
