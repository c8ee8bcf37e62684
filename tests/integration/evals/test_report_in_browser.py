"""The evaluation report in a real browser: headless Chromium opens it from a file with every
request sent through a recording proxy, and its console logged. The report must log nothing
and ask for nothing (the dashboard shows it in a sandboxed iframe, often with no route out).
A control page with a script and a remote image proves that both checks can fail. The
screenshot is kept in ``test-output/`` (or ``$LLAMA_ROLLOUT_TEST_OUTPUT``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.unit.evals.test_report import RESULTS, report_of

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
OUTPUT = Path(os.environ.get("LLAMA_ROLLOUT_TEST_OUTPUT", ROOT / "test-output"))
# Debian's package, which .ci/run installs; the flags keep Chromium's own traffic to a minimum.
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-logging=stderr", "--log-level=0", "--window-size=1280,2200",
]  # fmt: skip


def chromium() -> str:
    found = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
    assert found, "no chromium on PATH: install Debian's package (apt-get install chromium)"
    return found


class RecordingProxy(ThreadingHTTPServer):
    """An HTTP proxy that records every request and answers each with a 404."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                proxy.requests.append(self.path)
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_HEAD = do_CONNECT = _record

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def open_in_chromium(page: Path, screenshot: Path, profile: Path) -> tuple[list[str], list[str]]:
    """Open ``page``; the console lines it logged and the requests that went out."""
    with RecordingProxy() as proxy:
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        done = subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}",
             f"--proxy-server=http://127.0.0.1:{proxy.server_address[1]}",
             f"--screenshot={screenshot}", page.as_uri()],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        proxy.shutdown()
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return console, proxy.requests


def _host(request: str) -> str:
    return request.split("/")[2] if "://" in request else request  # CONNECT host:port


def open_page(page: Path, screenshot: Path, workdir: Path) -> tuple[list[str], list[str]]:
    """Open ``page``: the console lines it logged and the requests it made. What Chromium asks
    for by itself (update checks), measured on a blank page first, is set apart."""
    blank = workdir / "blank.html"
    blank.write_text("<!doctype html><p>blank</p>")
    _, own = open_in_chromium(blank, workdir / "blank.png", workdir / "profile-blank")
    console, requests = open_in_chromium(page, screenshot, workdir / f"profile-{page.stem}")
    own_hosts = {_host(r) for r in own}
    return console, [r for r in requests if _host(r) not in own_hosts]


def test_the_report_logs_nothing_and_asks_for_nothing_in_chromium(tmp_path):
    page, _, _ = report_of(RESULTS)
    report = tmp_path / "report.html"
    report.write_text(page)
    control = tmp_path / "control.html"
    control.write_text(
        '<!doctype html><p>control</p><script>console.error("control")</script>'
        '<img src="http://assets.example.test/logo.png">'
    )
    OUTPUT.mkdir(parents=True, exist_ok=True)
    screenshot = OUTPUT / "evaluation-report.png"
    screenshot.unlink(missing_ok=True)

    console, requests = open_page(control, tmp_path / "control.png", tmp_path)
    assert any('"control"' in line for line in console), "the console check cannot fail"
    assert requests == ["http://assets.example.test/logo.png"], "nor the network one"

    console, requests = open_page(report, screenshot, tmp_path)
    assert console == []
    assert requests == []
    assert screenshot.stat().st_size > 20_000, "a rendered page, not a blank one"
    print(f"screenshot of the report: {screenshot}")
