"""The CLI's commands: each parses nothing, calls a stage's step or the embedded stack, and
prints its result (one JSON object for the step commands).

Each command imports what it runs inside its function: ``llama-rollout --help`` or ``check``
should not pay for kfp, the Kubernetes client and the hub's client (no import cycle is
involved: the package imports cleanly from the top).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from llama_rollout.errors import ConfigurationError, RolloutError, quoted


def _print_json(payload: dict[str, Any]) -> None:
    print(json.dumps(payload, sort_keys=True), flush=True)


MAX_FILE_NAME = 200  # bytes of a file name: 255 on Linux, less the partial file's affixes


def cmd_compile(args: argparse.Namespace) -> int:
    from components import RUNTIME_IMAGE
    from pipelines.compile import compile_pipeline

    output = Path(args.output)
    if len(output.name) > MAX_FILE_NAME:
        raise ConfigurationError(
            f"--output's file name is {len(output.name)} characters long: at most {MAX_FILE_NAME}",
            hint="give a shorter file name ending in .yaml",
        )
    if output.suffix not in (".yaml", ".yml") or output.is_dir():
        raise ConfigurationError(
            f"--output {quoted(str(output), 200)} is not a YAML file's path",
            hint="give a file path ending in .yaml, e.g. pipelines/llama-rollout.yaml",
        )
    if not output.parent.is_dir():
        what = "is a file" if output.parent.exists() else "does not exist"
        raise ConfigurationError(
            f"cannot write {output}: folder {output.parent} {what}",
            hint="create it, or give --output a path in an existing folder",
        )
    image = args.image or RUNTIME_IMAGE
    # Compiled beside the output and moved into place: a full disk or a failed compile leaves
    # the previous file whole, not a truncated one. Under a unique name: two compiles to one
    # file at once each write their own, and the last one wins.
    partial: Path | None = None
    try:
        descriptor, name = tempfile.mkstemp(
            prefix=f".{output.name}.", suffix=".partial.yaml", dir=output.parent
        )
        os.close(descriptor)
        partial = Path(name)
        umask = os.umask(0o022)
        os.umask(umask)
        partial.chmod(0o666 & ~umask)  # as a file written in place would be, not mkstemp's 0600
        compile_pipeline(partial, image=image)
        if not partial.read_text().isascii():
            raise RolloutError(
                f"{output} is not ASCII", hint="remove non-ASCII text from docstrings"
            )
        partial.replace(output)
    except OSError as exc:
        full = exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
        raise ConfigurationError(
            f"cannot write {output}: {exc.strerror}",
            hint=("free space, or " if full else "") + "give --output a path you can write",
        ) from exc
    finally:
        if partial is not None:
            partial.unlink(missing_ok=True)
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
    print(f"\n{outputs['headline']}\n")
    for step in outputs["steps"]:
        print(f"  {step['step']:<20} {step['status']:<8} {step['detail']}")
    if outputs["evals"]["metrics"]:
        print(f"\n  evaluation  {_verdict(outputs['evals'])}")
    if outputs["lightspeed"]["olsconfig"]:
        print(
            f"  Lightspeed  {outputs['lightspeed']['summary']}\n"
            f"              OLSConfig: {outputs['lightspeed']['olsconfig']}"
        )
    serving = outputs["serving"]
    if serving["url"]:
        from llama_rollout.embedded.service_accounts import PIPELINE_RUNNER
        from llama_rollout.embedded.stack import EmbeddedStack

        question = "What is the capital of France?"
        # As the pipeline's runner, whom the embedded vLLM takes when it has auth on.
        token = EmbeddedStack().tokens.token(PIPELINE_RUNNER)
        print(f"\n> {question}\n{ask(serving['url'], serving['model'], question, token=token)}")
    return 0


def _verdict(evals: dict[str, Any]) -> str:
    metrics = evals["metrics"]
    figures = ", ".join(
        f"{name} {metrics[name]:.2f}"
        for name in ("tool_selection_accuracy", "argument_accuracy", "task_success")
        if name in metrics
    )
    verdict = (
        "the gate passed"
        if evals["passed"]
        else "the gate did not pass: " + "; ".join(evals["missed"])
    )
    return f"{verdict} ({figures}); report {evals['report']}"


def cmd_check(args: argparse.Namespace) -> int:
    from llama_rollout.parameters import check_parameters
    from llama_rollout.pipeline_run import parse_parameter_assignments, pipeline_parameters

    parameters = pipeline_parameters(**parse_parameter_assignments(args.set))
    check_parameters(parameters)
    print(f"the run's {len(parameters)} parameters are valid (target {parameters['target']})")
    return 0


def cmd_local(args: argparse.Namespace) -> int:
    from llama_rollout.embedded.stack import EmbeddedStack
    from llama_rollout.weights.connection import DataConnection
    from llama_rollout.weights.inventory import holdings

    stack = EmbeddedStack()
    if args.action == "up":
        status = stack.up()
    elif args.action == "down":
        stopped = stack.down()
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    else:
        status = stack.status()
    payload: dict[str, Any] = {
        "state_dir": str(stack.root),
        "services": {name: s.as_dict() for name, s in status.items()},
    }
    if status and all(s.healthy for s in status.values()):
        payload["environment"] = {
            k: v for k, v in stack.environment().items() if k != "AWS_SECRET_ACCESS_KEY"
        }
        held = holdings(DataConnection.from_env(stack.environment()))
        payload["incomplete_mirrors"] = held.incomplete_mirrors()
        payload["run_journals"] = len(held.run_journals)
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
        if payload.get("run_journals"):
            print(f"run journals: {payload['run_journals']} (each run's step notes; never pruned)")
        for mirror in payload.get("incomplete_mirrors", []):
            print(
                f"incomplete mirror {mirror['prefix']}: {mirror['objects']} objects, "
                f"{mirror['bytes']} bytes, last written {mirror['age_seconds']} s ago "
                "(`llama-rollout prune --older-than 24h` removes old ones)"
            )
    return 0 if all(s.healthy for s in status.values()) or args.action == "status" else 1


def cmd_render(args: argparse.Namespace) -> int:
    from llama_rollout.render import render

    sys.stdout.write(render(args.set))
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    from llama_rollout.weights.step import resolve

    resolved = resolve(args.source)
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
    from llama_rollout.weights.connection import DataConnection
    from llama_rollout.weights.plan import check_base_prefix
    from llama_rollout.weights.step import mirror, resolve

    # Every input before the source is read (a folder hashed, the hub asked).
    check_base_prefix(args.prefix)
    connection = DataConnection.from_env()
    resolved = resolve(args.source, args.model_name)
    mirrored = mirror(
        resolved.pinned_uri,
        resolved.model_name,
        args.prefix,
        settings=MirrorSettings(stall_timeout=args.stall_timeout, verify_existing=args.verify),
        connection=connection,
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


def cmd_verify(args: argparse.Namespace) -> int:
    from llama_rollout.weights.connection import DataConnection
    from llama_rollout.weights.verify import verify_model

    verification = verify_model(DataConnection.from_env(), args.model_uri)
    verification.raise_for_damage()
    _print_json(
        {
            "model_uri": verification.model_uri,
            "files": verification.files,
            "bytes_read": verification.bytes_read,
            "damaged": list(verification.damaged),
        }
    )
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from llama_rollout.weights.connection import DataConnection
    from llama_rollout.weights.inventory import prune_incomplete
    from llama_rollout.weights.plan import check_base_prefix

    check_base_prefix(args.prefix)
    removed = prune_incomplete(
        DataConnection.from_env(), args.older_than, base_prefix=args.prefix, dry_run=args.dry_run
    )
    _print_json(
        {
            "dry_run": args.dry_run,
            "removed" if not args.dry_run else "would_remove": [p.prefix for p in removed],
            "bytes": sum(p.bytes for p in removed),
        }
    )
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    from llama_rollout.registry.endpoint import RegistryReference
    from llama_rollout.registry.request import RegistrationRequest
    from llama_rollout.registry.step import register
    from llama_rollout.weights.source import check_model_name

    if args.model_name:
        check_model_name(args.model_name)
    registered = register(
        RegistrationRequest(
            model_name=args.model_name,
            model_uri=args.model_uri,
            data_connection="",
            registry=RegistryReference(url=args.registry_url),
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


def _server_and_parameters(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    from llama_rollout.pipeline_run import parse_parameter_assignments
    from llama_rollout.submission import PipelinesServer

    parameters = parse_parameter_assignments(args.set)
    server = PipelinesServer.from_arguments(
        args.host, args.namespace, token_file=args.token_file, ca_cert=args.ca_cert
    )
    return server, parameters


def cmd_submit(args: argparse.Namespace) -> int:
    import time

    from llama_rollout.submission import submit

    server, parameters = _server_and_parameters(args)
    name = args.name or f"llama-rollout-{time.strftime('%Y%m%d-%H%M%S')}"
    run = submit(server, parameters, run_name=name, experiment=args.experiment, image=args.image)
    print(f"started run {run.name} ({run.id}): {run.url}")
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    from llama_rollout.submission import schedule

    server, parameters = _server_and_parameters(args)
    recurring = schedule(
        server,
        parameters,
        name=args.name,
        cron=args.cron,
        experiment=args.experiment,
        image=args.image,
        max_concurrency=args.max_concurrency,
    )
    print(f"created recurring run {recurring.name} ({recurring.id}), {args.cron}: {recurring.url}")
    return 0
