"""Judging tool calls by the Berkeley Function Calling Leaderboard's AST rules, as pure functions.

:func:`match_calls` is BFCL's checker (``bfcl_eval/eval_checker/ast_eval/ast_checker.py`` of
``bfcl-eval`` 2026.3.23), rewritten for JSON-schema tools and for calls as Llama Stack's
Responses API reports them. It accepts what that checker accepts on BFCL's own data, and
refuses what it refuses (``tests/integration/evals/test_bfcl_agreement.py`` runs every
category's possible answers, and calls perturbed from them, through both rules). A call
matches an expected one when:

* the tool's name is the expected one, exactly;
* every parameter the schema requires is there;
* no parameter is outside the schema or outside the expected answer (an *extra* argument);
* each value has the schema's type: an int stands for a number, but the string ``"10"`` is no
  integer and ``true`` no integer either; a value of the type of the first allowed value
  passes too (BFCL's *variable*: ``null``, or a name such as ``"data['sales']"``, written as
  the answer where the schema wants another type), and is then compared as it is written;
* strings are compared after normalisation (lower case, ``'`` read as ``"``, and spaces and
  ``,./-_*^`` removed) with the allowed values; ``""`` in that list makes the parameter
  optional (and is itself an allowed string, as in BFCL);
* a list is compared whole with each allowed list, in order, its own strings normalised (those
  of lists inside it are not, as in BFCL); a list of objects, object by object;
* an object is compared with each allowed one, whose keys each hold a list of allowed values
  (``""`` for a key that may be left out);
* several expected calls are matched in any order when the turn allows it (BFCL's parallel
  calls), each taking the first call that matches it, with the counts equal; otherwise in
  order;
* an empty expected list (irrelevance) passes only when no call was made.

Two things BFCL's Python-call format never meets are decided here: a call's ``arguments`` may
come as a JSON string (they do from Llama Stack), and an explicit ``null`` for a parameter
whose schema allows null counts as leaving it out. One rule is kept where BFCL differs: in a
list of numbers an int stands for a number, as it does for a single number (BFCL converts a
single int to a float but not the items of a list, and JSON writers drop the ``.0``).

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
        names = ", ".join(n for n, _ in wanted)
        got = f"{len(made)}: {', '.join(n for n, _ in made)}" if made else "none"
        return Match(False, (f"expected {len(wanted)} call(s) of {names}, got {got}",), False)
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
        elif (refused := _value_problem(properties[param], value, allowed[param])) is not None:
            reasons.append(f"{name}: {param}{refused}")
    for param, values in allowed.items():
        if param not in given and "" not in values and param not in schema.get("required", []):
            reasons.append(f"{name}: argument {param} is missing (it is not optional here)")
    return reasons


def tool_schema(tool: Mapping[str, Any]) -> Mapping[str, Any]:
    for key in ("input_schema", "inputSchema", "parameters"):
        if isinstance(schema := tool.get(key), Mapping):
            return schema
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
    """Why ``value`` does not have the schema's type, items included (None when it has)."""
    kinds = _types_of(schema)
    if not kinds or any(
        _of_kind(kind, value) and (kind != "array" or _items_typed(schema, value)) for kind in kinds
    ):
        return None
    return f"is {type(value).__name__} {value!r}, the schema wants {' or '.join(sorted(kinds))}"


def _of_kind(kind: str, value: Any) -> bool:
    if isinstance(value, bool) and kind != "boolean":
        return False  # true is no integer here, though Python says it is
    return isinstance(value, _JSON_TYPES.get(kind, ()))


def _items_schema(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    options = [schema, *schema.get("anyOf", []), *schema.get("oneOf", [])]
    return next((s.get("items") or {} for s in options if s.get("type") == "array"), {})


def _items_typed(schema: Mapping[str, Any], value: list[Any]) -> bool:
    items = _items_schema(schema)
    return not items or all(type_problem(items, v) is None for v in value)


def _value_problem(schema: Mapping[str, Any], value: Any, allowed: Sequence[Any]) -> str | None:
    """Why ``value`` is not an allowed value of a parameter, by BFCL's ``simple_function_checker``
    (its text starts after the parameter's name); None when it is one."""
    answers = [a for a in allowed if a != ""]
    if (wrong_type := _type_refusal(schema, value, answers)) is not None:
        return f" {wrong_type}"
    kinds = _types_of(schema)
    if answers and kinds and not any(_of_kind(kind, answers[0]) for kind in kinds):
        # BFCL's "variable": the answer is not of the schema's type (a name such as
        # "data['sales']" for a list, null for a string), so it is compared as it is written.
        matched = any(_equal(value, a) for a in answers)
    elif isinstance(value, dict):
        matched = _dict_allowed(value, allowed)
    elif isinstance(value, list) and "object" in _types_of(_items_schema(schema)):
        matched = any(_dicts_allowed(value, a) for a in answers)
    elif isinstance(value, list):
        matched = any(_listed(value) == _listed(a) for a in answers if isinstance(a, list))
    elif isinstance(value, str):
        # BFCL keeps "" among the strings it compares: "" is a value of an optional string.
        matched = normalise(value) in {normalise(a) for a in allowed if isinstance(a, str)}
    else:
        matched = any(_equal(value, a) for a in answers)
    return None if matched else f"={value!r} is not one of {answers!r}"


def _type_refusal(schema: Mapping[str, Any], value: Any, answers: Sequence[Any]) -> str | None:
    """BFCL's ``type_checker``: the schema's type, or the type of the first allowed value."""
    problem = type_problem(schema, value)
    if problem is None:
        return None
    if isinstance(value, list) and "array" in _types_of(schema):
        # Items of another type pass when an allowed list holds items of that type (BFCL's
        # nested check tries each allowed list); a list that passes neither way is refused.
        items = _items_schema(schema)
        for answer in answers:
            if isinstance(answer, list) and all(
                type_problem(items, v) is None or type(v) is _first_type(answer) for v in value
            ):
                return None
        return problem
    return None if type(value) is _first_type(answers) else problem


def _first_type(answers: Sequence[Any]) -> type | None:
    return next((type(a) for a in answers if a != ""), None)


def _equal(value: Any, answer: Any) -> bool:
    if isinstance(value, bool) or isinstance(answer, bool):
        return value is answer
    return bool(value == answer)


def _listed(items: list[Any]) -> list[Any]:
    """BFCL's ``list_checker`` normalises the strings of a list, not those of lists inside it."""
    return [normalise(v) if isinstance(v, str) else v for v in items]


def _dict_allowed(value: dict[str, Any], allowed: Sequence[Any]) -> bool:
    """BFCL's ``dict_checker``: an allowed dict maps each key to its allowed values, with ""
    for a key that may be left out."""
    for answer in allowed:
        if not isinstance(answer, dict):
            continue
        options = {k: v if isinstance(v, list) else [v] for k, v in answer.items()}
        if all(
            k in options and _standard(v) in [_standard(o) for o in options[k]]
            for k, v in value.items()
        ) and all("" in v for k, v in options.items() if k not in value):
            return True
    return False


def _dicts_allowed(value: list[Any], answer: Any) -> bool:
    """BFCL's ``list_dict_checker``: as many dicts as the allowed list, each allowed in place."""
    return (
        isinstance(answer, list)
        and len(value) == len(answer)
        and all(
            isinstance(v, dict) and _dict_allowed(v, [a])
            for v, a in zip(value, answer, strict=True)
        )
    )


def _standard(value: Any) -> Any:
    return normalise(value) if isinstance(value, str) else value


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
