"""``llama-rollout``: compile the pipeline, run it locally, drive the embedded stack, run a step.

Every failure the user can act on ends in one line on stderr (``error: ...: what to do``) and a
non-zero exit code; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from llama_rollout.errors import ConfigurationError, RolloutError, first_line

logger = logging.getLogger("llama_rollout.cli")
UNEXPECTED = 70  # EX_SOFTWARE: a bug, not something the user can fix


def _print_json(payload: dict[str, Any]) -> None:
    print(json.dumps(payload, sort_keys=True), flush=True)


# -- commands ----------------------------------------------------------------------------


def cmd_compile(args: argparse.Namespace) -> int:
    from components import RUNTIME_IMAGE
    from pipelines.compile import compile_pipeline

    output = Path(args.output)
    if not output.parent.is_dir():
        raise ConfigurationError(
            f"cannot write {output}: folder {output.parent} does not exist",
            hint="create it, or give --output a path in an existing folder",
        )
    image = args.image or RUNTIME_IMAGE
    compile_pipeline(output, image=image)
    if not output.read_text().isascii():
        raise RolloutError(f"{output} is not ASCII", hint="remove non-ASCII text from docstrings")
    print(f"compiled the pipeline to {output} (steps run in {image})")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    if not args.local:
        raise ConfigurationError(
            "only local runs are available from this command",
            hint="add --local to run on the embedded stack; on a cluster, import "
            "pipelines/llama-rollout.yaml in the OpenShift AI dashboard",
        )
    from llama_rollout.pipeline_run import (
        LOCAL_RUN_SETS,
        ask,
        parse_parameter_assignments,
        run_local,
    )

    result = run_local(
        source_uri=args.source,
        model_name=args.model_name or "",
        parameters=parse_parameter_assignments(args.set, reserved=LOCAL_RUN_SETS),
    )
    outputs = result.as_dict()
    if args.json:
        _print_json(outputs)
        return 0
    serving = outputs["serving"]
    question = "What is the capital of France?"
    print(
        f"\nmodel {outputs['model_name']} revision {outputs['revision']}\n"
        f"  stored at   {outputs['model_uri']} ({outputs['files']} files, "
        f"{outputs['bytes_transferred']} bytes moved this run)\n"
        f"  registered  model id {outputs['registered_model_id']}, version "
        f"{outputs['model_version_name']} (id {outputs['model_version_id']})\n"
        f"  served at   {serving['url']} as {serving['model']}\n"
        f"  Llama Stack {outputs['llama_stack']['version']} at {outputs['llama_stack']['url']}, "
        f"model {outputs['llama_stack']['model_id']}\n"
        f"  MCP tools   {', '.join(outputs['mcp']['tools'])} ({outputs['mcp']['url']})\n"
        f"\n> {question}\n{ask(serving['url'], serving['model'], question)}"
    )
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from llama_rollout.parameters import check_parameters
    from llama_rollout.pipeline_run import parse_parameter_assignments, pipeline_parameters

    parameters = pipeline_parameters(**parse_parameter_assignments(args.set))
    check_parameters(parameters)
    print(f"the run's {len(parameters)} parameters are valid (target {parameters['target']})")
    return 0


def cmd_local(args: argparse.Namespace) -> int:
    from llama_rollout.embedded.stack import EmbeddedStack

    stack = EmbeddedStack()
    if args.action == "up":
        status = stack.up()
    elif args.action == "down":
        stopped = stack.down()
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    else:
        status = stack.status()
    payload = {
        "state_dir": str(stack.root),
        "services": {name: s.as_dict() for name, s in status.items()},
    }
    if status and all(s.healthy for s in status.values()):
        payload["environment"] = {
            k: v for k, v in stack.environment().items() if k != "AWS_SECRET_ACCESS_KEY"
        }
    if args.json:
        _print_json(payload)
    else:
        if not status:
            print("the embedded stack is not running (start it with `llama-rollout local up`)")
        for name, s in status.items():
            health = (
                "healthy" if s.healthy else ("running, not healthy" if s.running else "stopped")
            )
            print(f"{name:9} {health:22} {s.url:28} pid {s.pid}  log {s.log}")
        if "environment" in payload:
            print(f"credentials: {stack.credentials_file}")
    return 0 if all(s.healthy for s in status.values()) or args.action == "status" else 1


def cmd_render(args: argparse.Namespace) -> int:
    from llama_rollout.render import render

    sys.stdout.write(render(args.set))
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    from llama_rollout.weights.step import resolve_step

    resolved = resolve_step(args.source)
    _print_json(
        {
            "source": resolved.pinned_uri,
            "revision": resolved.revision,
            "model_name": resolved.model_name,
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in resolved.files],
            "skipped": list(resolved.skipped),
        }
    )
    return 0


def cmd_mirror(args: argparse.Namespace) -> int:
    from llama_rollout.weights import MirrorSettings
    from llama_rollout.weights.step import mirror_step, resolve_step

    resolved = resolve_step(args.source, args.model_name)
    mirrored = mirror_step(
        resolved.pinned_uri,
        resolved.model_name,
        args.prefix,
        settings=MirrorSettings(stall_timeout=args.stall_timeout),
    )
    _print_json(
        {
            "source": resolved.pinned_uri,
            "revision": resolved.revision,
            "model_uri": mirrored.uri,
            "manifest_sha256": mirrored.manifest_sha256,
            "bytes_transferred": mirrored.bytes_transferred,
            "files": len(mirrored.manifest.files),
        }
    )
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    from llama_rollout.registry.step import RegistrationRequest, register_step
    from llama_rollout.weights.source import check_model_name

    if args.model_name:
        check_model_name(args.model_name)
    registered = register_step(
        RegistrationRequest(
            model_name=args.model_name, model_uri=args.model_uri, registry_url=args.registry_url
        )
    )
    _print_json(
        {
            "registered_model_id": registered.registered_model_id,
            "model_version_id": registered.model_version_id,
            "model_version_name": registered.model_version_name,
            "model_artifact_id": registered.model_artifact_id,
            "created": registered.created,
        }
    )
    return 0


# -- parser ------------------------------------------------------------------------------


def _pinned_image(value: str) -> str:
    from llama_rollout.k8s_types import is_pinned

    if not is_pinned(value):
        raise argparse.ArgumentTypeError(f"pin the image to a tag or digest, not {value!r}")
    return value


class _Parser(argparse.ArgumentParser):
    """Usage errors in the CLI's one-line form, with where to read the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message}: see `{self.prog} --help`\n")


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"give a number of seconds above 0, not {value}")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    from llama_rollout.pipeline_run import DEFAULT_SOURCE

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
    p.set_defaults(func=cmd_compile)

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
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "check", help="check a run's parameters as its first step will, without running it"
    )
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a pipeline parameter"
    )
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("local", help="the embedded stack: up, down, status")
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_local)

    p = sub.add_parser("render", help="print every object the pipeline applies on the cluster")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a serving setting"
    )
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("resolve", help="pin a source to its revision and list its files")
    p.add_argument("--source", required=True)
    p.set_defaults(func=cmd_resolve)

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
    p.set_defaults(func=cmd_mirror)

    p = sub.add_parser("register", help="register a mirrored model in the Model Registry")
    p.add_argument("--model-uri", required=True)
    p.add_argument("--model-name", default="")
    p.add_argument("--registry-url", required=True)
    p.set_defaults(func=cmd_register)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx2", "httpx", "botocore", "urllib3", "aiohttp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except RolloutError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"error: unexpected {type(exc).__name__}: {first_line(exc)}: this is a bug; run "
            "again with --debug for the traceback, and report it",
            file=sys.stderr,
        )
        return UNEXPECTED


if __name__ == "__main__":
    sys.exit(main())
