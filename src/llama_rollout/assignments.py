"""``KEY=VALUE`` on the command line (``render --set``, ``run --local --set``), typed strictly.

Text stays text. Numbers and booleans are read strictly: YAML would take ``yes`` for true and
``true`` for 1, so ``gpu_count=true`` and ``operator=maybe`` are errors. Other values (lists,
objects) are read as YAML.
"""

from __future__ import annotations

import math
import re
from typing import Any

from llama_rollout.errors import ConfigurationError, quoted
from llama_rollout.plain_yaml import load_plain_yaml

MAX_NUMBER_LENGTH = 40  # characters: more than any setting needs, far below Python's limits

SCALARS: dict[type, tuple[str, str, str]] = {
    bool: (r"true|false", "a boolean", "write true or false"),
    int: (r"[+-]?[0-9]+", "an integer", "write digits"),
    float: (
        r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?",
        "a number",
        "write a decimal number",
    ),
}


def split_assignment(item: str) -> tuple[str, str]:
    """``"KEY=VALUE"`` -> ``("KEY", "VALUE")``, or a ConfigurationError."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigurationError(f"--set {quoted(item)} is not KEY=VALUE")
    return key.strip(), raw


def split_assignments(items: list[str]) -> list[tuple[str, str]]:
    """Each ``KEY=VALUE`` split; a key given twice is an error (the last would silently win)."""
    seen: dict[str, str] = {}
    for key, raw in map(split_assignment, items):
        if key in seen:
            raise ConfigurationError(
                f"--set {key} is given twice ({quoted(seen[key], 30)}, then {quoted(raw, 30)})",
                hint="give it once",
            )
        seen[key] = raw
    return list(seen.items())


def typed_value(key: str, raw: str, annotation: Any) -> Any:
    """``raw`` as a value of ``annotation`` (str, bool, int, float, or anything YAML reads)."""
    if annotation is str:
        return raw
    if annotation in SCALARS:
        pattern, what, hint = SCALARS[annotation]
        if not re.fullmatch(pattern, raw.strip()):
            raise ConfigurationError(f"--set {key}: {quoted(raw)} is not {what}", hint=hint)
        if len(raw.strip()) > MAX_NUMBER_LENGTH:
            raise ConfigurationError(
                f"--set {key}: a number of {len(raw.strip())} characters is not a sane {key}",
                hint=f"write at most {MAX_NUMBER_LENGTH} characters",
            )
        if annotation is float and not math.isfinite(float(raw)):
            raise ConfigurationError(f"--set {key}: {quoted(raw)} is too large a number")
        return raw.strip() == "true" if annotation is bool else annotation(raw)
    value = load_plain_yaml(raw, what=f"--set {key}")
    origin = getattr(annotation, "__origin__", annotation)
    if origin in (list, tuple, dict) and not isinstance(value, list if origin is tuple else origin):
        kind = "an object" if origin is dict else "a list"
        raise ConfigurationError(
            f"--set {key}: {quoted(raw)} is not {kind}", hint="write it as YAML"
        )
    return value
