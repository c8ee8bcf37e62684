"""YAML from a user (a dataset, a ``--set`` value): plain data, no aliases, errors by position.

Three things a safe loader still allows are refused here. Tags: ``!!int x`` fails inside
the constructor with the value in its message, and ``!anything`` is quoted by PyYAML's error;
plain data needs none. Aliases: a document of nested
anchors and aliases (a "billion laughs") is a few hundred bytes and expands to gigabytes; the
project's YAML never needs one, so an alias is an error. And quoting: PyYAML's errors quote
the line they failed on, and that line may hold a credential, so an error here says the line,
the column and what the parser expected, never the text.
"""

from __future__ import annotations

from typing import Any

import yaml

from llama_rollout.errors import ConfigurationError

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_plain_yaml(text: str | bytes, *, what: str) -> Any:
    """The data in ``text``; a ConfigurationError naming ``what`` and the position otherwise."""
    try:
        # The events first (at the C parser's speed), so that no alias is ever expanded.
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, yaml.AliasEvent):
                raise yaml.MarkedYAMLError(
                    problem="an alias (*name) is not allowed here: write the value out",
                    problem_mark=event.start_mark,  # type: ignore[arg-type]  # the C parser's Mark: the stubs want yaml.error.Mark
                )
            if isinstance(event, yaml.NodeEvent) and _explicit_tag(event):
                raise yaml.MarkedYAMLError(
                    problem="a tag (!name or !!type) is not allowed here: write plain values",
                    problem_mark=event.start_mark,  # type: ignore[arg-type]  # the C parser's Mark: the stubs want yaml.error.Mark
                )
        return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{what} is not YAML: {yaml_problem(exc)}") from exc


def _explicit_tag(event: yaml.NodeEvent) -> bool:
    """A tag the text wrote (``!x``, ``!!int``), not one the parser implied; the quoted or plain
    scalars and the plain collections of ordinary YAML have none."""
    tag = getattr(event, "tag", None)
    if tag is None or tag == "!":  # "!" is a non-specific tag: the value is a string
        return False
    implicit = getattr(event, "implicit", True)
    return not (any(implicit) if isinstance(implicit, tuple) else implicit)


def yaml_problem(exc: yaml.YAMLError) -> str:
    """Where and what, without the text of the line (it may hold a secret)."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return type(exc).__name__
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    said = " ".join(part for part in (exc.context, exc.problem) if part)
    return where + (" ".join(said.split()) or "malformed")
