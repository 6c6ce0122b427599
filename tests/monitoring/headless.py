"""Headless Chromium driven through the DevTools protocol over a pipe (stdlib only).

Chromium's ``--remote-debugging-pipe`` reads protocol commands from fd 3 and writes replies
and events to fd 4, each a JSON message ended by a NUL byte: no websocket, no extra package.

    with Chromium.launch(profile_dir, log_path) as browser:
        page = browser.new_page(url)
        page.evaluate("document.title")
        page.screenshot()  # PNG bytes

`find_chromium()` looks for Debian's ``chromium`` (or $RINGFAST_CHROMIUM). The browser runs in
its own session (process group) and is ended by pid: Browser.close, then SIGKILL of its group.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

FLAGS = [
    "--headless",
    "--no-sandbox",  # we run as root in CI containers
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
    "--no-proxy-server",  # loopback only, whatever the environment says
    "--hide-scrollbars",
    "--window-size=1200,800",
]


def find_chromium() -> str | None:
    explicit = os.environ.get("RINGFAST_CHROMIUM")
    if explicit:
        return explicit
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _high_fd(fd: int) -> int:
    """The same pipe end at a number >= 10 (so it cannot collide with 3 and 4 in the child)."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


_TRAMPOLINE = """
import os, sys
cmd, res = int(sys.argv[1]), int(sys.argv[2])
os.dup2(cmd, 3)
os.dup2(res, 4)
os.close(cmd)
os.close(res)
os.execv(sys.argv[3], sys.argv[3:])
"""


class ProtocolError(Exception):
    pass


class Chromium:
    def __init__(self, proc: subprocess.Popen, to_browser: int, from_browser: int, log_path: Path):
        self.proc, self.log_path = proc, log_path
        self._out, self._in = to_browser, from_browser
        self._buffer = b""
        self._next_id = 0

    @classmethod
    def launch(cls, executable: str, profile_dir: Path, log_path: Path) -> Chromium:
        cmd_read, cmd_write = (_high_fd(fd) for fd in os.pipe())
        res_read, res_write = (_high_fd(fd) for fd in os.pipe())
        # A tiny Python trampoline puts our pipe ends on fds 3 and 4, then becomes chromium
        # (exec), so the pid we hold is the browser's. start_new_session: its helpers share its
        # process group, ended by that id at close().
        args = [executable, *FLAGS, f"--user-data-dir={profile_dir}", "--remote-debugging-pipe", "about:blank"]
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-c", _TRAMPOLINE, str(cmd_read), str(res_write), *args],
                pass_fds=(cmd_read, res_write), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        os.close(cmd_read)
        os.close(res_write)
        return cls(proc, cmd_write, res_read, Path(log_path))

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # ---------------------------------------------------------------- protocol

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no message from chromium before the deadline")
            ready, _, _ = select.select([self._in], [], [], left)
            if ready:
                chunk = os.read(self._in, 1 << 20)
                if not chunk:
                    raise ProtocolError(f"chromium closed the pipe (exit code {self.proc.poll()}); "
                                        f"its log ends with:\n{self.log_tail()}")
                self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30.0) -> dict:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        try:
            os.write(self._out, json.dumps(msg).encode() + b"\0")
        except BrokenPipeError:
            raise ProtocolError(f"chromium is gone (exit code {self.proc.poll()}); its log ends with:\n{self.log_tail()}") from None
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:  # events (no id) are not needed here
                if "error" in reply:
                    raise ProtocolError(f"{method}: {reply['error']}")
                return reply["result"]

    def new_page(self, url: str) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        self.send("Page.enable", session=session)
        self.send("Page.navigate", {"url": url}, session=session)
        return page

    # ---------------------------------------------------------------- ending

    def _exited(self, timeout: float) -> bool:
        """Whether the browser process has exited within `timeout`, without reaping it (so
        its pid, which is also its process group's id, cannot be reused meanwhile)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.returncode is not None:
                return True
            try:
                if os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                    return True
            except ChildProcessError:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def close(self) -> None:
        if self.proc.returncode is None:
            try:
                self.send("Browser.close", timeout=5)
            except (OSError, TimeoutError, ProtocolError):
                pass
            self._exited(10)
            # the browser and whatever is left of its helpers (renderers, zygote), by the
            # process group id, which is the browser's own pid (start_new_session)
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)
        for fd in (self._out, self._in):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Page:
    def __init__(self, browser: Chromium, session: str):
        self.browser, self.session = browser, session

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (JSON-serialisable), or ProtocolError if it threw."""
        result = self.browser.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=self.session)
        if "exceptionDetails" in result:
            raise ProtocolError(f"{expression[:60]}...: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def screenshot(self) -> bytes:
        data = self.browser.send("Page.captureScreenshot", {"format": "png"}, session=self.session)["data"]
        return base64.b64decode(data)
