"""Embedded server processes start with what they need, and no credentials."""

from __future__ import annotations

import json
import logging
import sys
import time

from llama_rollout.embedded import processes


def test_a_server_gets_the_basics_and_its_own_variables_but_no_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3-secret")
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    monkeypatch.setenv("LANG", "C.UTF-8")
    out = tmp_path / "env.json"
    code = (
        f"import json, os; open({str(out)!r} + '.tmp', 'w').write(json.dumps(dict(os.environ)));"
        f" os.replace({str(out)!r} + '.tmp', {str(out)!r})"
    )
    record = processes.start(
        "probe", [sys.executable, "-c", code], log=tmp_path / "probe.log", url="",
        env={"SQLITE_STORE_DIR": "/srv/store"},
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    processes.stop(record)
    env = json.loads(out.read_text())
    assert "AWS_SECRET_ACCESS_KEY" not in env and "HF_TOKEN" not in env
    assert env["SQLITE_STORE_DIR"] == "/srv/store"
    assert env["LANG"] == "C.UTF-8" and env["PATH"]
    assert set(env) - {"SQLITE_STORE_DIR", "PWD", "SHLVL", "_"} <= set(processes.INHERITED) | {
        "LC_CTYPE"
    }


def test_a_long_start_is_reported_with_the_server_s_last_log_line(tmp_path, caplog):
    ready = tmp_path / "ready"
    code = (
        "import pathlib, time; print('Loading safetensors shard 1/2', flush=True); "
        f"time.sleep(1.5); pathlib.Path({str(ready)!r}).touch(); time.sleep(30)"
    )
    record = processes.start(
        "slow", [sys.executable, "-c", code], log=tmp_path / "slow.log", url=""
    )
    try:
        with caplog.at_level(logging.INFO):
            processes.wait_until(
                ready.exists, what="the slow server", timeout=20, record=record, report_every=0.5
            )
    finally:
        processes.stop(record)
    reports = [r.getMessage() for r in caplog.records if r.getMessage().startswith("still waiting")]
    assert reports, "a start of over a second at report_every=0.5 s was never reported"
    assert "still waiting for the slow server (" in reports[0]
    # The first report may come before the child has printed (a slow start): a later one not.
    assert reports[-1].endswith("Loading safetensors shard 1/2"), reports
