"""Headless Chromium driven over the Chrome DevTools Protocol, for the console's end-to-end test.

No driver library: Chromium is started with ``--remote-debugging-port=0``, its port is read from
``DevToolsActivePort`` in the profile directory, and CDP's JSON messages go over a WebSocket
(``websockets``, already a dependency). Clicks are real mouse events at an element's centre.
Debian's ``chromium`` package (``.ci/run`` installs it); a missing browser is a clear failure.

``python -m tests.browser URL OUT.png`` saves a screenshot of a running console (``make
screenshot`` takes the README's from ``make run``'s console once it has a few minutes of data).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import websockets

FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--remote-debugging-port=0", "--window-size=1400,1000",
]  # fmt: skip


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    assert path, "chromium is missing: install Debian's chromium package (.ci/run does it)"
    return path


class Browser:
    """One page in a headless Chromium; ``async with Browser(profile_dir) as b: await b.goto(url)``."""

    def __init__(self, profile: Path) -> None:
        self.profile = profile
        self.proc: subprocess.Popen[bytes] | None = None
        self.ws: Any = None
        self.session = ""
        self._ids = itertools.count(1)

    async def __aenter__(self) -> Browser:
        self.profile.mkdir(parents=True, exist_ok=True)
        with (self.profile / "chromium.log").open("wb") as log:
            self.proc = subprocess.Popen(
                [chromium(), *FLAGS, f"--user-data-dir={self.profile}", "about:blank"], stdout=log, stderr=log
            )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"chromium did not start: {(self.profile / 'chromium.log').read_text()[-2000:]}"
                )
            await asyncio.sleep(0.1)
        port, path = port_file.read_text().splitlines()[:2]
        self.ws = await websockets.connect(f"ws://127.0.0.1:{port}{path}", max_size=64 << 20)
        target = await self.send("Target.createTarget", url="about:blank")
        attached = await self.send("Target.attachToTarget", targetId=target["targetId"], flatten=True)
        self.session = attached["sessionId"]
        await self.send("Page.enable")
        await self.send("Runtime.enable")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One CDP command; its result (events in between are skipped)."""
        msg_id = next(self._ids)
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        await self.ws.send(json.dumps(msg))
        while True:
            answer = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            if answer.get("id") == msg_id:
                if "error" in answer:
                    raise AssertionError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer.get("result", {})
                return result

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'", 20, what=f"{url} loaded")

    async def eval(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        out = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in out:
            d = out["exceptionDetails"]
            raise AssertionError(
                f"{expression[:80]}: {d.get('text')} {d.get('exception', {}).get('description')}"
            )
        return out["result"].get("value")

    async def wait_for(self, expression: str, timeout_s: float, what: str = "") -> Any:
        """Poll until ``expression`` is truthy; its value."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = await self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s} s waiting for {what or expression}")
            await asyncio.sleep(0.2)

    @staticmethod
    def text(element_id: str) -> str:
        """The JavaScript expression for an element's text."""
        return f"document.getElementById('{element_id}').textContent"

    async def type_into(self, selector: str, text: str) -> None:
        await self.eval(f"document.querySelector({json.dumps(selector)}).value = {json.dumps(text)}")

    async def click(self, selector: str) -> None:
        """A real left click (mouse down and up) at the centre of the element."""
        rect = await self.eval(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView(); "
            "const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        assert rect, f"no element {selector}"
        x, y = rect
        for kind in ("mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    async def screenshot(self, path: Path, width: int = 1400) -> bytes:
        """A PNG of the whole page."""
        height = int(await self.eval("document.documentElement.scrollHeight"))
        await self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                        mobile=False)  # fmt: skip
        await asyncio.sleep(0.3)  # one frame at the new size
        data = base64.b64decode((await self.send("Page.captureScreenshot", format="png"))["data"])
        path.write_bytes(data)
        return data


async def _shot(url: str, out: Path) -> None:
    with tempfile.TemporaryDirectory() as profile:
        async with Browser(Path(profile)) as b:
            await b.goto(url)
            drawn = "+(document.querySelector('canvas[id^=chart-quotes]')?.dataset.points || 0) > 5"
            await b.wait_for(drawn, 30, what="a chart drawn")
            await b.wait_for("document.querySelector('table.params')?.textContent.includes('model')", 30,
                             what="the parameters")  # fmt: skip
            await b.screenshot(out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m tests.browser CONSOLE_URL OUT.png")
    asyncio.run(_shot(sys.argv[1], Path(sys.argv[2])))
    print(f"wrote {sys.argv[2]}")
