"""Headless Chromium for tests, driven over the DevTools protocol on a pipe (standard library only).

`--remote-debugging-pipe` makes Chromium read commands from its fd 3 and write replies and
events to its fd 4, each a JSON message ended by NUL: no port, no websocket package. The page's
Network events list every request it makes, data: URIs included, and host-resolver rules that
resolve no name keep a test that fails from reaching the network all the same.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Debian's package; .ci/run installs it (scripts/ensure_chromium.sh)
EXECUTABLE = shutil.which("chromium")
#: seconds any one reply or page load may take before the test fails instead of hanging
TIMEOUT = 60.0
#: the screen a page is shown on: a phone's, in CSS pixels (width, height)
PHONE = (390, 844)


@dataclass
class Visit:
    """What loading one page did: every URL it requested and every error it logged or threw."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Chromium:
    """One headless browser with one tab, emulating a phone's screen (`size` in CSS pixels)."""

    def __init__(self, profile: Path, size: tuple[int, int] = PHONE) -> None:
        if EXECUTABLE is None:
            raise FileNotFoundError("chromium is not installed (Debian: bash scripts/ensure_chromium.sh)")
        to_browser, self._commands = os.pipe()
        self._replies, from_browser = os.pipe()

        def onto_fds_3_and_4() -> None:  # in the child: above 4 first, so neither dup2 overwrites the other
            read, write = fcntl.fcntl(to_browser, fcntl.F_DUPFD, 5), fcntl.fcntl(from_browser, fcntl.F_DUPFD, 5)
            os.dup2(read, 3)
            os.dup2(write, 4)

        root = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium refuses root with its sandbox
        self._process = subprocess.Popen(
            [EXECUTABLE, "--headless", "--remote-debugging-pipe", f"--user-data-dir={profile}", *root,
             "--host-resolver-rules=MAP * ~NOTFOUND", "--no-first-run", "--disable-extensions",
             "--disable-background-networking", "--disable-component-update", "--disable-gpu", "about:blank"],
            preexec_fn=onto_fds_3_and_4, close_fds=False, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._events: list[dict[str, Any]] = []
        self._next_id = 0
        target = self._send("Target.createTarget", url="about:blank")["targetId"]
        self._session = self._send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            self._send(f"{domain}.enable", session=self._session)
        self._send("Emulation.setDeviceMetricsOverride", session=self._session,
                   width=size[0], height=size[1], deviceScaleFactor=1, mobile=True)

    def visit(self, path: Path) -> Visit:
        """Load the file at `path` and wait for its load event."""
        self._events.clear()
        self._send("Page.navigate", session=self._session, url=path.resolve().as_uri())
        self._wait_for("Page.loadEventFired")
        visit = Visit()
        for event in self._events:
            params = event["params"]
            if event["method"] == "Network.requestWillBeSent":
                visit.requests.append(params["request"]["url"])
            elif event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
                visit.errors.append(params["entry"]["text"])
            elif event["method"] == "Runtime.exceptionThrown":
                visit.errors.append(params["exceptionDetails"]["text"])
        return visit

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        reply = self._send("Runtime.evaluate", session=self._session, expression=expression, returnByValue=True)
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression} threw: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def screenshot(self) -> bytes:
        """A PNG of the whole page at the emulated width, not only the first screen."""
        size = self._send("Page.getLayoutMetrics", session=self._session)["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self._send("Page.captureScreenshot", session=self._session, format="png",
                          captureBeyondViewport=True, clip=clip)
        return base64.b64decode(shot["data"])

    def close(self) -> None:
        """Ask the browser to quit (it may exit before it replies), killing it if it does not."""
        try:
            os.write(self._commands, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
            self._process.wait(timeout=TIMEOUT)
        except (OSError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait()
        finally:
            os.close(self._commands)
            os.close(self._replies)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one command and return its result; events read meanwhile are kept for `visit`."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            if "method" in reply:
                self._events.append(reply)

    def _wait_for(self, method: str) -> None:
        while not any(event["method"] == method for event in self._events):
            reply = self._read()
            if "method" in reply:
                self._events.append(reply)

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._replies], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(self._replies, 1 << 16) if ready else b""
            if not chunk:
                raise TimeoutError(f"chromium gave no reply within {TIMEOUT:.0f} s (or exited: {self._process.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)
