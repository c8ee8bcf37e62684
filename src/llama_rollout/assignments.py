"""``KEY=VALUE`` on the command line (``render --set``, ``run --local --set``), typed strictly.

Text stays text. Numbers and booleans are read strictly: YAML would take ``yes`` for true and
``true`` for 1, so ``gpu_count=true`` and ``operator=maybe`` are errors. Other values (lists,
objects) are read as YAML.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from llama_rollout.errors import ConfigurationError

SCALARS: dict[type, tuple[str, str, str]] = {
    bool: (r"true|false", "a boolean", "write true or false"),
    int: (r"[+-]?\d+", "an integer", "write digits"),
    float: (r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", "a number", "write a decimal number"),
}


def split_assignment(item: str) -> tuple[str, str]:
    """``"KEY=VALUE"`` -> ``("KEY", "VALUE")``, or a ConfigurationError."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigurationError(f"--set {item!r} is not KEY=VALUE")
    return key.strip(), raw


def typed_value(key: str, raw: str, annotation: Any) -> Any:
    """``raw`` as a value of ``annotation`` (str, bool, int, float, or anything YAML reads)."""
    if annotation is str:
        return raw
    if annotation in SCALARS:
        pattern, what, hint = SCALARS[annotation]
        if not re.fullmatch(pattern, raw.strip()):
            raise ConfigurationError(f"--set {key}: {raw!r} is not {what}", hint=hint)
        return raw.strip() == "true" if annotation is bool else annotation(raw)
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigurationError(
            f"--set {key}: {raw!r} is not a value ({' '.join(str(exc).split())})"
        ) from exc
    origin = getattr(annotation, "__origin__", annotation)
    if origin in (list, tuple, dict) and not isinstance(value, list if origin is tuple else origin):
        kind = "an object" if origin is dict else "a list"
        raise ConfigurationError(f"--set {key}: {raw!r} is not {kind}", hint="write it as YAML")
    return value
