"""Debian's headless Chromium driven over the DevTools protocol (a WebSocket, through aiohttp).

No browser download and no driver package: the tests start the distribution's `chromium`
with `--remote-debugging-port=0`, read the port it chose from `DevToolsActivePort`, open a
tab and send it protocol commands (navigate, evaluate in the page, set headers, capture a
screenshot). The DOM is asserted on as the browser built it, scripts run, forms submit.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

# Headless, offline: without the background-networking flags Chromium keeps trying hosts
# this machine cannot reach.
HEADLESS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FLAGS = [
    *HEADLESS,
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    "--window-size=1400,1000",
]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Chromium:
    """One browser process for a test module; `tab()` opens a fresh page for each test."""

    def __init__(self, profile: Path) -> None:
        path = chromium_path()
        assert path is not None, "CI installs Debian's chromium (see .ci/run)"
        profile.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [path, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not active.exists() or not active.read_text().strip():
            assert self.process.poll() is None, "chromium exited while starting"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.05)
        self.port = int(active.read_text().split()[0])

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    async def tab(self) -> Tab:
        async with (
            aiohttp.ClientSession() as session,
            session.put(f"http://127.0.0.1:{self.port}/json/new?about:blank") as answer,
        ):
            target = await answer.json()
        tab = Tab(self.port, target["id"])
        await tab.connect(target["webSocketDebuggerUrl"])
        return tab


class Tab:
    """One page: protocol commands and the events they cause."""

    def __init__(self, port: int, target_id: str) -> None:
        self.port, self.target_id = port, target_id
        self.ids = itertools.count(1)
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.reader: asyncio.Task[None] | None = None
        self.seen: list[dict[str, Any]] = []  # every event, for what a test wants to check

    async def connect(self, url: str) -> None:
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(url, max_msg_size=64 << 20)
        self.reader = asyncio.create_task(self._read())
        await self.send("Page.enable")
        await self.send("Runtime.enable")
        await self.send("Log.enable")  # CSP violations arrive as Log.entryAdded

    async def _read(self) -> None:
        assert self.ws is not None
        async for message in self.ws:
            data = json.loads(message.data)
            if "id" in data and data["id"] in self.pending:
                self.pending.pop(data["id"]).set_result(data)
            elif "method" in data:
                self.seen.append(data)
                self.events.put_nowait(data)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        assert self.ws is not None
        number = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[number] = future
        await self.ws.send_str(json.dumps({"id": number, "method": method, "params": params}))
        answer = await asyncio.wait_for(future, 30)
        assert "error" not in answer, f"{method}: {answer['error']}"
        result: dict[str, Any] = answer.get("result", {})
        return result

    async def wait_event(self, method: str, timeout: float = 30) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            event = await asyncio.wait_for(self.events.get(), max(left, 0.01))
            if event["method"] == method:
                return event

    async def headers(self, headers: dict[str, str]) -> None:
        """Headers sent with every request of this tab, as a proxy in front would add them."""
        await self.send("Network.enable")
        await self.send("Network.setExtraHTTPHeaders", headers=headers)

    async def goto(self, url: str) -> None:
        """Navigate and wait until the page has loaded."""
        while not self.events.empty():
            self.events.get_nowait()
        await self.send("Page.navigate", url=url)
        await self.wait_event("Page.loadEventFired")

    async def js(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    async def until(self, expression: str, timeout: float = 15) -> Any:
        """Poll an expression in the page until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = await self.js(expression)
            if value:
                return value
            assert time.monotonic() < deadline, f"never true in the page: {expression}"
            await asyncio.sleep(0.1)

    async def submit(self, form_selector: str) -> None:
        """Click a form's submit button as a user would, and wait for the page it leads to."""
        while not self.events.empty():
            self.events.get_nowait()
        await self.js(f"document.querySelector({json.dumps(form_selector)}).requestSubmit()")
        await self.wait_event("Page.loadEventFired")

    async def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        shot = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await self.reader
        if self.session is not None:
            await self.session.close()
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{self.port}/json/close/{self.target_id}"),
        ):
            pass
