"""Embedded server processes start with what they need, and no credentials."""

from __future__ import annotations

import json
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
