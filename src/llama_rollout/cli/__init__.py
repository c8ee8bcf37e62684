"""``llama-rollout``: compile the pipeline, run it locally, drive the embedded stack, run a step.

Every failure the user can act on ends in one line on stderr (``error: ...: what to do``) and a
non-zero exit code; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Callable

from llama_rollout import redaction
from llama_rollout.cli.arguments import build_parser
from llama_rollout.errors import RolloutError, first_line

UNEXPECTED = 70  # EX_SOFTWARE: a bug, not something the user can fix
ERROR_LINE_LENGTH = 2000  # the longest error line: what a terminal shows, not a flood
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def error_line(message: str) -> str:
    """``message`` as one error line: redacted, control characters escaped (a value's escape
    sequences do not drive the terminal, its newlines do not make a second line), and cut."""
    line = _CONTROL.sub(lambda m: repr(m.group())[1:-1], redaction.redact(message))
    if len(line) > ERROR_LINE_LENGTH:
        return line[:ERROR_LINE_LENGTH] + f"... ({len(line) - ERROR_LINE_LENGTH} more characters)"
    return line


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
