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


def test_the_report_logs_nothing_and_asks_for_nothing_in_chromium(tmp_path):
    page, _, _ = report_of(RESULTS)
    report = tmp_path / "report.html"
    report.write_text(page)
    control = tmp_path / "control.html"
    control.write_text(
        '<!doctype html><p>control</p><script>console.error("control")</script>'
        '<img src="http://assets.example.test/logo.png">'
    )
    blank = tmp_path / "blank.html"
    blank.write_text("<!doctype html><p>blank</p>")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    screenshot = OUTPUT / "evaluation-report.png"
    screenshot.unlink(missing_ok=True)

    # What Chromium asks for by itself (update checks), on an empty page: not the page's.
    _, own = open_in_chromium(blank, tmp_path / "blank.png", tmp_path / "profile-blank")
    own_hosts = {request.split("/")[2] if "://" in request else request for request in own}

    def from_page(requests: list[str]) -> list[str]:
        return [r for r in requests if (r.split("/")[2] if "://" in r else r) not in own_hosts]

    console, requests = open_in_chromium(control, tmp_path / "control.png", tmp_path / "p1")
    assert any('"control"' in line for line in console), "the console check cannot fail"
    assert "http://assets.example.test/logo.png" in from_page(requests), "nor the network one"

    console, requests = open_in_chromium(report, screenshot, tmp_path / "profile-report")
    assert console == []
    assert from_page(requests) == []
    assert screenshot.stat().st_size > 20_000, "a rendered page, not a blank one"
    print(f"screenshot of the report: {screenshot}")
