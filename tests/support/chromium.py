"""Headless Chromium driven over the DevTools protocol (websocket-client): open a file, evaluate JS, take
screenshots, and record console errors and every network request the page makes."""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import websocket

FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
         "--disable-extensions", "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--remote-debugging-port=0"]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class Browser:
    """One headless Chromium with one page; `open(path)` loads a file and resets the logs."""

    def __init__(self, width: int = 1200, height: int = 900):
        exe = chromium_path()
        if exe is None:
            raise RuntimeError("chromium is not on PATH (scripts/setup.sh installs it)")
        self.profile = Path(tempfile.mkdtemp(prefix="socratic-chromium-"))
        self.proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port = self._port()
        pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        url = next(p["webSocketDebuggerUrl"] for p in pages if p["type"] == "page")
        self.ws = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self._ids = itertools.count(1)
        self.events: list[dict] = []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=False)

    def _port(self) -> int:
        marker = self.profile / "DevToolsActivePort"
        deadline = time.time() + 30
        while time.time() < deadline:
            if marker.exists() and marker.read_text().strip():
                return int(marker.read_text().split()[0])
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode}")
            time.sleep(0.05)
        raise RuntimeError("chromium did not open its DevTools port")

    def call(self, method: str, **params):
        msg_id = next(self._ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def _wait_event(self, method: str, timeout: float = 30) -> None:
        if any(e["method"] == method for e in self.events):
            return
        deadline = time.time() + timeout
        while time.time() < deadline:
            msg = json.loads(self.ws.recv())
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == method:
                    return
        raise TimeoutError(method)

    def open(self, path: Path) -> None:
        self.events = []
        self.url = Path(path).resolve().as_uri()
        self.call("Page.navigate", url=self.url)
        self._wait_event("Page.loadEventFired")
        self.js("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")

    def js(self, expression: str):
        """Evaluate an expression in the page (promises awaited); its JSON value."""
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"JS error: {res['exceptionDetails'].get('exception', {}).get('description')}")
        return res["result"].get("value")

    def requests(self) -> list[str]:
        """Every URL the page asked for (the file itself and data: URIs included)."""
        return [e["params"]["request"]["url"] for e in self.events if e["method"] == "Network.requestWillBeSent"]

    def console_errors(self) -> list[str]:
        out = []
        for e in self.events:
            p = e["params"]
            if e["method"] == "Runtime.exceptionThrown":
                details = p["exceptionDetails"]
                out.append(details.get("exception", {}).get("description") or details["text"])
            elif e["method"] == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(p["entry"]["text"])
        return out

    def screenshot(self, out: Path, selector: str | None = None, max_height: int = 900) -> Path:
        """A PNG of the page's top, or of one element (cut at max_height)."""
        clip = None
        if selector:
            r = self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView(); "
                        "const b = e.getBoundingClientRect(); "
                        "return {x: b.left + scrollX, y: b.top + scrollY, w: b.width, h: b.height}; })()")
            clip = {"x": r["x"], "y": r["y"], "width": r["w"], "height": min(r["h"], max_height), "scale": 1}
        params = {"format": "png", "captureBeyondViewport": bool(clip)}
        if clip:
            params["clip"] = clip
        data = self.call("Page.captureScreenshot", **params)["data"]
        out.write_bytes(base64.b64decode(data))
        return out

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            shutil.rmtree(self.profile, ignore_errors=True)
