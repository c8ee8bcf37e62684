"""``llama-rollout``: compile the pipeline, run it locally, drive the embedded stack, run a step.

Every failure the user can act on ends in one line on stderr (``error: ...: what to do``) and a
non-zero exit code; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from llama_rollout import redaction
from llama_rollout.cli.arguments import build_parser
from llama_rollout.errors import RolloutError, error_line, first_line

UNEXPECTED = 70  # EX_SOFTWARE: a bug, not something the user can fix


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx2", "httpx", "botocore", "urllib3", "aiohttp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    redaction.redact_logs()
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except RolloutError as exc:
        if args.debug:
            raise
        print(f"error: {error_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"error: unexpected {type(exc).__name__}: {error_line(first_line(exc))}: this "
            "is a bug; run "
            "again with --debug for the traceback, and report it",
            file=sys.stderr,
        )
        return UNEXPECTED


__all__ = ["UNEXPECTED", "build_parser", "main"]
