"""The CLI's arguments: commands, options and their types, with usage errors in the CLI's
one-line form."""

from __future__ import annotations

import argparse
import re
from datetime import timedelta
from typing import NoReturn

from llama_rollout.cli import commands
from llama_rollout.errors import error_line, quoted
from llama_rollout.k8s_types import dns_label_problem, image_reference_problem
from llama_rollout.pipeline_run import DEFAULT_SOURCE


def _pinned_image(value: str) -> str:
    if problem := image_reference_problem(value):
        raise argparse.ArgumentTypeError(problem)
    return value


class _Parser(argparse.ArgumentParser):
    """Usage errors in the CLI's one-line form (redacted, escaped, cut), with where to read the
    usage; no abbreviated options (``--max-model=99`` is a typo, not ``--max-model-len``)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {error_line(message)}: see `{self.prog} --help`\n")


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_NUMBER = re.compile(r"[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]{1,3})?|\.[0-9]+")  # ASCII digits only
LONGEST_DURATION = 3650 * 86400  # ten years: more is a typo


def _duration(value: str) -> timedelta:
    number, unit = (value[:-1], value[-1]) if value[-1:] in DURATION_UNITS else (value, "s")
    if len(number) > 20 or not _NUMBER.fullmatch(number):
        raise argparse.ArgumentTypeError(
            f"{quoted(value)} is not a duration (e.g. 90s, 30m, 24h, 7d)"
        )
    seconds = float(number) * DURATION_UNITS[unit]
    if not 1 <= seconds <= LONGEST_DURATION:
        raise argparse.ArgumentTypeError(f"give a duration from 1s to 3650d, not {quoted(value)}")
    return timedelta(seconds=seconds)


def _concurrency(value: str) -> int:
    if not re.fullmatch(r"[0-9]{1,3}", value) or not 1 <= int(value) <= 10:
        raise argparse.ArgumentTypeError(f"{quoted(value)} is outside 1..10")
    return int(value)


def _namespace(value: str) -> str:
    if problem := dns_label_problem(value):
        raise argparse.ArgumentTypeError(f"{problem}: give the data science project's name")
    return value


def _display_name(value: str) -> str:
    """A run's, a schedule's or an experiment's name, as the pipelines API stores it (an
    experiment's name is at most 128 bytes: validation/length.go)."""
    if not value.strip() or len(value.encode()) > 128 or not value.isprintable():
        raise argparse.ArgumentTypeError(
            f"{quoted(value)} is not a name: give 1 to 128 bytes of printable characters"
        )
    return value


def _schedule_name(value: str) -> str:
    """A recurring run's name, which also names its ScheduledWorkflow: KFP keeps the lower-case
    letters, digits and '-' of it, cut to 25 (template.go), and that must start a DNS name."""
    _display_name(value)
    derived = re.sub(r"[^a-z0-9-]", "", value.lower())[:25]
    if not derived[:1].isalnum():
        raise argparse.ArgumentTypeError(
            f"{quoted(value)} names the ScheduledWorkflow {derived!r} (KFP keeps the name's "
            "letters, digits and '-', lower-cased, cut to 25): start it with a letter or digit"
        )
    return value


def _seconds(value: str) -> float:
    return _duration(value).total_seconds()


def _add_pipelines_server_commands(sub: argparse._SubParsersAction) -> None:
    """``submit`` and ``schedule``: the same server, parameters and image; a schedule."""
    for name, what in (
        ("submit", "start a run on a Data Science Pipelines server"),
        ("schedule", "create a recurring run on a Data Science Pipelines server"),
    ):
        p = sub.add_parser(name, help=what)
        p.add_argument("--host", required=True, help="the pipeline server's API route URL")
        p.add_argument(
            "--namespace",
            required=True,
            type=_namespace,
            help="the data science project it runs in",
        )
        p.add_argument(
            "--token-file",
            help="a file with the bearer token (default: "
            "$KF_PIPELINES_TOKEN, e.g. from `oc whoami -t`)",
        )
        p.add_argument("--ca-cert", help="a CA bundle for the route's certificate")
        p.add_argument("--experiment", default="llama-rollout", type=_display_name)
        p.add_argument("--image", type=_pinned_image, help="the runtime image every step runs in")
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a pipeline parameter, e.g. source_uri=hf://meta-llama/Llama-3.2-3B-Instruct",
        )
        p.add_argument(
            "--name",
            required=name == "schedule",
            type=_schedule_name if name == "schedule" else _display_name,
            help="the run's name"
            + (" (default: llama-rollout-<time>)" if name == "submit" else ""),
        )
        if name == "schedule":
            p.add_argument(
                "--cron",
                required=True,
                help="6 fields, seconds first: '0 0 */6 * * *' runs every 6 hours",
            )
            p.add_argument("--max-concurrency", type=_concurrency, default=1)
        p.set_defaults(func=getattr(commands, f"cmd_{name}"))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="llama-rollout",
        description="Take a Llama model from Hugging Face to production on OpenShift AI.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("compile", help="compile the pipeline to YAML")
    p.add_argument("--output", default="pipelines/llama-rollout.yaml")
    p.add_argument(
        "--image",
        type=_pinned_image,
        help="the runtime image every step runs in (default: the ImageStream tag that "
        "manifests/runtime-image builds)",
    )
    p.set_defaults(func=commands.cmd_compile)

    p = sub.add_parser("run", help="run the pipeline (--local: on the embedded stack)")
    p.add_argument("--local", action="store_true", help="run with kfp.local on the embedded stack")
    p.add_argument("--source", default=DEFAULT_SOURCE, help="hf://ORG/REPO[@REV] or file:///PATH")
    p.add_argument("--model-name", default="", help="registered model name (default: from source)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a pipeline parameter, e.g. max_model_len=2048",
    )
    p.add_argument("--json", action="store_true", help="end with one JSON object of the outputs")
    p.set_defaults(func=commands.cmd_run)

    _add_pipelines_server_commands(sub)

    p = sub.add_parser(
        "check", help="check a run's parameters as its first step will, without running it"
    )
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a pipeline parameter"
    )
    p.set_defaults(func=commands.cmd_check)

    p = sub.add_parser("local", help="the embedded stack: up, down, status")
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=commands.cmd_local)

    p = sub.add_parser("render", help="print every object the pipeline applies on the cluster")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a serving setting"
    )
    p.set_defaults(func=commands.cmd_render)

    p = sub.add_parser("resolve", help="pin a source to its revision and list its files")
    p.add_argument("--source", required=True)
    p.set_defaults(func=commands.cmd_resolve)

    p = sub.add_parser("mirror", help="mirror a source to S3 (data connection keys from the env)")
    p.add_argument("--source", required=True)
    p.add_argument("--model-name", default="")
    p.add_argument("--prefix", default="models")
    p.add_argument(
        "--stall-timeout",
        type=_seconds,
        default=60.0,
        help="seconds without a byte from the source before a read is retried",
    )
    p.add_argument(
        "--verify",
        action="store_true",
        help="read back and hash the objects already in S3 instead of trusting their metadata",
    )
    p.set_defaults(func=commands.cmd_mirror)

    p = sub.add_parser("verify", help="read a mirrored model back from S3, check it all")
    p.add_argument("--model-uri", required=True, help="s3://BUCKET/PREFIX/ of the model")
    p.set_defaults(func=commands.cmd_verify)

    p = sub.add_parser("prune", help="remove mirrors that never finished, older than a limit")
    p.add_argument(
        "--older-than", type=_duration, required=True, help="e.g. 24h: a younger one may be running"
    )
    p.add_argument("--prefix", default="models")
    p.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    p.set_defaults(func=commands.cmd_prune)

    p = sub.add_parser("register", help="register a mirrored model in the Model Registry")
    p.add_argument("--model-uri", required=True)
    p.add_argument("--model-name", default="")
    p.add_argument("--registry-url", required=True)
    p.set_defaults(func=commands.cmd_register)
    return parser
