"""The CLI's last resort: a failure that is no RolloutError is one line, and a bug."""

from __future__ import annotations

import pytest

from llama_rollout import cli
from llama_rollout.cli import commands


def broken(args):
    raise KeyError("registered_model_id")


def test_an_unexpected_failure_is_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    monkeypatch.setattr(commands, "cmd_resolve", broken)
    assert cli.main(["resolve", "--source", "hf://acme/tiny"]) == cli.UNEXPECTED
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "error: unexpected KeyError: 'registered_model_id': this is a bug; run again with "
        "--debug for the traceback, and report it"
    ]
    with pytest.raises(KeyError):
        cli.main(["--debug", "resolve", "--source", "hf://acme/tiny"])
