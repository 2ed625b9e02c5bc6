"""A minimal headless-Chromium client for testing the HTML maps: the Chrome DevTools Protocol over a pipe.

Chromium is started with ``--remote-debugging-pipe``: it reads CDP commands from file descriptor 3 and writes
responses and events to descriptor 4, as NUL-terminated JSON (no websocket library needed). The network is
cut off twice over: every host resolves to nothing and every connection goes to a dead proxy. The page's own
requests are recorded (``Network.requestWillBeSent``), and so are console errors, uncaught exceptions and
browser log errors (CSP violations and failed loads appear there).

    with Browser() as b:
        page = b.open(path.as_uri())
        page.wait_for("window.__hlDrawn")
        png = page.screenshot()
"""

from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM", "Browser", "Page", "BrowserError"]


def _find() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


#: Path of the Chromium executable, or None when it is not installed.
CHROMIUM = _find()


def _above_nine(fd: int) -> int:
    import fcntl

    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class BrowserError(RuntimeError):
    """A CDP command failed, the browser died, or a wait timed out."""


class Browser:
    """A headless Chromium process driven over ``--remote-debugging-pipe`` (use as a context manager)."""

    def __init__(self, *, width: int = 1200, height: int = 860, timeout: float = 60.0) -> None:
        if CHROMIUM is None:
            raise BrowserError("chromium is not installed (make browser)")
        self.width, self.height, self.timeout = width, height, timeout
        self._profile = tempfile.TemporaryDirectory(prefix="hl-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Move the child's ends above 9, so they cannot collide with the target descriptors 3 and 4.
        to_browser_r, from_browser_w = (_above_nine(fd) for fd in (to_browser_r, from_browser_w))
        args = [
            "--headless",
            "--remote-debugging-pipe",
            f"--user-data-dir={self._profile.name}",
            f"--window-size={width},{height}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--hide-scrollbars",
            "--mute-audio",
            # No network: nothing resolves, and any connection goes to a closed port.
            "--proxy-server=127.0.0.1:9",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "about:blank",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.insert(0, "--no-sandbox")  # Chromium refuses to run its sandbox as root (containers, CI)
        # fds 3 and 4 of the browser are our pipe ends; bash moves them there and execs chromium (POSIX sh
        # need not handle descriptors above 9).
        script = f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w} {to_browser_r}<&- {from_browser_w}>&-'
        self._proc = subprocess.Popen(
            [shutil.which("bash") or "/bin/bash", "-c", script, CHROMIUM, *args],
            pass_fds=(to_browser_r, from_browser_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next = 0
        self._lock = threading.Lock()
        self._waiting: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._listeners: dict[str, list[Page]] = {}
        self._stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self.version = self.send("Browser.getVersion")["product"]

    # -- plumbing ----------------------------------------------------------------------------------------
    def _drain_stderr(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr.append(line)

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_browser, 1 << 20)
            except OSError:
                chunk = b""
            if not chunk:
                for q in list(self._waiting.values()):
                    q.put({"error": {"message": "browser closed the pipe"}})
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    q = self._waiting.pop(msg["id"], None)
                    if q is not None:
                        q.put(msg)
                else:
                    for page in self._listeners.get(msg.get("sessionId", ""), []):
                        page._event(msg)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        with self._lock:
            self._next += 1
            mid = self._next
            q: queue.Queue[dict[str, Any]] = queue.Queue()
            self._waiting[mid] = q
            msg: dict[str, Any] = {"id": mid, "method": method, "params": params or {}}
            if session:
                msg["sessionId"] = session
            data = json.dumps(msg).encode() + b"\0"
            try:
                while data:
                    data = data[os.write(self._to_browser, data) :]
            except OSError as e:
                raise BrowserError(f"{method}: cannot write to the browser: {e}") from e
        try:
            reply = q.get(timeout=self.timeout)
        except queue.Empty as e:
            raise BrowserError(f"{method}: no reply within {self.timeout} s") from e
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message')} {self.stderr_tail()}")
        return reply.get("result", {})

    def stderr_tail(self) -> str:
        return b"".join(self._stderr[-10:]).decode(errors="replace")

    # -- pages -------------------------------------------------------------------------------------------
    def open(self, url: str) -> Page:
        """A new tab with network recording and console capture on, navigated to ``url``."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        self._listeners.setdefault(session, []).append(page)
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.send(f"{domain}.enable")
        page.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False},
        )
        page.send("Page.navigate", {"url": url})
        return page

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                self.send("Browser.close")
            except BrowserError:
                pass
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        if self._proc.stderr is not None:
            self._proc.stderr.close()
        self._profile.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Page:
    """One tab: CDP commands in its session, and what it asked for and complained about."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser, self.session = browser, session
        self.requests: list[str] = []
        self.errors: list[str] = []

    def _event(self, msg: dict[str, Any]) -> None:
        method, p = msg.get("method"), msg.get("params", {})
        if method == "Network.requestWillBeSent":
            self.requests.append(p["request"]["url"])
        elif method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            self.errors.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            self.errors.append(
                "console: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"])
            )
        elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
            self.errors.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}".strip())

    def send(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return self.browser.send(method, params, self.session)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (JSON-serialisable results only)."""
        r = self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}
        )
        if "exceptionDetails" in r:
            raise BrowserError(f"{expression}: {r['exceptionDetails'].get('text')}")
        return r["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0, interval: float = 0.05) -> Any:
        """Poll until ``expression`` is truthy; return its value."""
        end = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > end:
                raise BrowserError(
                    f"timed out after {timeout} s waiting for {expression}; errors: {self.errors}"
                )
            time.sleep(interval)

    def screenshot(self) -> bytes:
        """A PNG of the viewport."""
        return base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"])

    def mouse_move(self, x: float, y: float) -> None:
        self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y, "pointerType": "mouse"})

    def click(self, x: float, y: float) -> None:
        for kind in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}
            )
