"""Judging tool calls by the Berkeley Function Calling Leaderboard's AST rules, as pure functions.

:func:`match_calls` is BFCL's checker (``ast_checker.py``), rewritten for JSON-schema tools and
for calls as Llama Stack's Responses API reports them. A call matches an expected one when:

* the tool's name is the expected one, exactly;
* every parameter the schema requires is there;
* no parameter is outside the schema or outside the expected answer (an *extra* argument);
* each value has the schema's type: an int stands for a number, but the string ``"10"`` is no
  integer and ``true`` no integer either;
* strings are compared after normalisation (lower case, and spaces and ``,./-_*^`` removed)
  with the list of allowed values; ``""`` in that list makes the parameter optional;
* lists are compared element by element, in order, each against an allowed list;
* several expected calls are matched in any order when the turn allows it (BFCL's parallel
  calls), with the counts equal; otherwise in order;
* an empty expected list (irrelevance) passes only when no call was made.

Two things BFCL's Python-call format never meets are decided here: a call's ``arguments`` may
come as a JSON string (they do from Llama Stack), and an explicit ``null`` for a parameter
whose schema allows null counts as leaving it out.

The case-level counts (calls left in the text, tool loops, pass^k) are here too, beside the
rules they apply.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Expected = Sequence[Mapping[str, Mapping[str, Sequence[Any]]]]
_NORMALISE = re.compile(r"[ ,./\-_*^]")
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


@dataclass(frozen=True)
class Match:
    """Whether the calls made are the expected ones, and why not.

    ``names_match`` says whether the right tools were called (the same names, as many times),
    whatever their arguments: tool selection, apart from argument accuracy.
    """

    passed: bool
    reasons: tuple[str, ...] = ()
    names_match: bool = True

    def __bool__(self) -> bool:
        return self.passed


def normalise(text: str) -> str:
    """BFCL's string normalisation: lower case, without spaces and ``,./-_*^``."""
    return _NORMALISE.sub("", text).lower().replace("'", '"')


def match_calls(
    tools: Sequence[Mapping[str, Any]],
    expected: Expected,
    calls: Sequence[Mapping[str, Any]],
    *,
    any_order: bool,
) -> Match:
    """Judge ``calls`` against ``expected`` with BFCL's AST rules.

    Args:
        tools: the tools offered, each with ``name`` and a JSON schema under ``input_schema``
            (Llama Stack), ``inputSchema`` (MCP) or ``parameters`` (OpenAI).
        expected: BFCL's possible answer, ``[{tool_name: {arg: [allowed values]}}]``; an empty
            list means that no tool may be called.
        calls: the calls made, ``{"name": ..., "arguments": {...} or "{json}"}``.
        any_order: the expected calls may come in any order (BFCL's parallel calls).

    Returns:
        The match, with every reason it failed.
    """
    made = [(str(c.get("name", "")), c.get("arguments")) for c in calls]
    wanted = [next(iter(e.items())) for e in expected]
    names_match = sorted(n for n, _ in made) == sorted(n for n, _ in wanted)
    if not wanted:
        if made:
            called = ", ".join(n for n, _ in made)
            return Match(False, (f"no tool should be called, but {called} was",), False)
        return Match(True)
    if len(made) != len(wanted):
        expected = ", ".join(n for n, _ in wanted)
        got = f"{len(made)}: {', '.join(n for n, _ in made)}" if made else "none"
        return Match(False, (f"expected {len(wanted)} call(s) of {expected}, got {got}",), False)
    schemas = {str(t.get("name")): tool_schema(t) for t in tools}
    if not any_order:
        reasons = [
            f"call {i + 1}: {reason}"
            for i, ((name, args), want) in enumerate(zip(made, wanted, strict=True))
            for reason in check_call(schemas, want, name, args)
        ]
        return Match(not reasons, tuple(reasons), names_match)
    unused = list(range(len(made)))
    reasons = []
    for want in wanted:
        found = next((i for i in unused if not check_call(schemas, want, *made[i])), None)
        if found is None:
            closest = [r for i in unused for r in check_call(schemas, want, *made[i])][:1]
            reasons.append(f"no call matches {want[0]}" + (f" ({closest[0]})" if closest else ""))
        else:
            unused.remove(found)
    return Match(not reasons, tuple(reasons), names_match)


def check_call(
    schemas: Mapping[str, Mapping[str, Any]],
    expected: tuple[str, Mapping[str, Sequence[Any]]],
    name: str,
    arguments: Any,
) -> list[str]:
    """Why one call does not match one expected call (empty when it does)."""
    want_name, allowed = expected
    if name != want_name:
        return [f"called {name or '(no name)'}, expected {want_name}"]
    args, problem = _arguments(arguments)
    if problem:
        return [f"{name}: {problem}"]
    schema = schemas.get(name, {})
    properties: Mapping[str, Any] = schema.get("properties", {})
    reasons = []
    given = {k: v for k, v in args.items() if not (v is None and _allows_null(properties.get(k)))}
    for param in schema.get("required", []):
        if param not in given:
            reasons.append(f"{name}: required argument {param} is missing")
    for param, value in given.items():
        if param not in properties or param not in allowed:
            reasons.append(f"{name}: unexpected argument {param}={value!r}")
            continue
        if (wrong_type := type_problem(properties[param], value)) is not None:
            reasons.append(f"{name}: {param} {wrong_type}")
        elif not _allowed(value, allowed[param]):
            values = [v for v in allowed[param] if v != ""]
            reasons.append(f"{name}: {param}={value!r} is not one of {values!r}")
    for param, values in allowed.items():
        if param not in given and "" not in values and param not in schema.get("required", []):
            reasons.append(f"{name}: argument {param} is missing (it is not optional here)")
    return reasons


def tool_schema(tool: Mapping[str, Any]) -> Mapping[str, Any]:
    for key in ("input_schema", "inputSchema", "parameters"):
        if isinstance(tool.get(key), Mapping):
            return tool[key]
    function = tool.get("function")
    return tool_schema(function) if isinstance(function, Mapping) else {}


def _arguments(arguments: Any) -> tuple[dict[str, Any], str | None]:
    if arguments is None or arguments == "":
        return {}, None
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return {}, f"the arguments are not JSON: {arguments[:80]!r}"
    if not isinstance(arguments, dict):
        return {}, f"the arguments are not an object: {arguments!r}"
    return arguments, None


def _types_of(schema: Mapping[str, Any] | None) -> set[str]:
    if not schema:
        return set()
    if "anyOf" in schema or "oneOf" in schema:
        return {t for s in schema.get("anyOf", schema.get("oneOf", [])) for t in _types_of(s)}
    kind = schema.get("type")
    return set(kind) if isinstance(kind, list) else ({kind} if kind else set())


def _allows_null(schema: Mapping[str, Any] | None) -> bool:
    return "null" in _types_of(schema)


def type_problem(schema: Mapping[str, Any], value: Any) -> str | None:
    kinds = _types_of(schema)
    if not kinds:
        return None
    for kind in kinds:
        python = _JSON_TYPES.get(kind, ())
        if isinstance(value, bool) and kind != "boolean":
            continue  # true is no integer here, though Python says it is
        if isinstance(value, python):
            if kind == "array" and not _items_typed(schema, value):
                continue
            return None
    return f"is {type(value).__name__} {value!r}, the schema wants {' or '.join(sorted(kinds))}"


def _items_typed(schema: Mapping[str, Any], value: list[Any]) -> bool:
    items = next(
        (s.get("items") for s in [schema, *schema.get("anyOf", [])] if s.get("type") == "array"),
        None,
    )
    return not items or all(type_problem(items, v) is None for v in value)


def _allowed(value: Any, allowed: Sequence[Any]) -> bool:
    return any(_same(value, candidate) for candidate in allowed if candidate != "")


def _same(value: Any, candidate: Any) -> bool:
    if isinstance(value, str) and isinstance(candidate, str):
        return normalise(value) == normalise(candidate)
    if isinstance(value, list) and isinstance(candidate, list):
        # Each position of an expected list holds its own allowed value (or values).
        return len(value) == len(candidate) and all(
            _allowed(v, c if isinstance(c, list) else [c])
            for v, c in zip(value, candidate, strict=True)
        )
    if isinstance(value, dict) and isinstance(candidate, dict):
        return value.keys() == candidate.keys() and all(
            _allowed(value[k], candidate[k] if isinstance(candidate[k], list) else [candidate[k]])
            for k in value
        )
    if isinstance(value, bool) or isinstance(candidate, bool):
        return value is candidate
    return value == candidate


# -- case-level counts ------------------------------------------------------------------------

# A call the model wrote as text instead of making it: JSON with a name, Llama's python_tag,
# hermes' tags, or a pythonic call of an offered tool.
_TEXT_CALL_MARKERS = (
    re.compile(r"<\|python_tag\|>"),
    re.compile(r"</?tool_call>"),
    re.compile(r'\{\s*"(name|function|type)"\s*:\s*"'),
)


def call_in_text(text: str, tool_names: Sequence[str]) -> bool:
    """True when ``text`` holds a tool call written out rather than made."""
    if any(marker.search(text) for marker in _TEXT_CALL_MARKERS):
        return True
    return any(re.search(rf"\b{re.escape(name)}\s*\(", text) for name in tool_names)


def repeated_calls(calls: Sequence[Mapping[str, Any]]) -> int:
    """How many calls repeat an earlier one of the case with the same arguments (a tool loop)."""
    seen: set[str] = set()
    repeats = 0
    for call in calls:
        args, _ = _arguments(call.get("arguments"))
        key = json.dumps([call.get("name"), args], sort_keys=True, default=str)
        repeats += key in seen
        seen.add(key)
    return repeats


def pass_hat_k(successes: int, trials: int, k: int) -> float:
    """tau-bench's pass^k for one task: the chance that k tries drawn from ``trials`` all
    succeed, C(successes, k) / C(trials, k)."""
    if not 1 <= k <= trials or not 0 <= successes <= trials:
        raise ValueError(f"pass^{k} needs 1 <= k <= trials ({trials}) and 0 <= successes")
    return math.comb(successes, k) / math.comb(trials, k)


def answer_has_facts(text: str, facts: Sequence[str]) -> list[str]:
    """The facts that the answer does not contain, after normalisation of both."""
    said = normalise(text)
    return [fact for fact in facts if normalise(fact) not in said]
