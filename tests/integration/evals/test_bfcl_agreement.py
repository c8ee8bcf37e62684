"""BFCL's own possible answers through ``match_calls``: every answer BFCL accepts passes, and
every perturbed call that BFCL's checker refuses fails, category by category.

The questions (with their function schemas) and the possible answers are read as data from the
``bfcl-eval`` wheel on PyPI (``tests/bfcl_data.py``). Its checker,
``bfcl_eval/eval_checker/ast_eval/ast_checker.py``, cannot be imported without the package's
heavy dependencies (it imports the model registry, which imports every model handler), so
each perturbation below names the rule of that file that refuses it, and the correct answers
are built only from what its rules accept.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from llama_rollout.evals.scoring import match_calls
from tests.bfcl_data import CATEGORIES, Case, download_wheel, read_cases

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def bfcl(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Case]]:
    """The cases of each category, from the pinned wheel."""
    return read_cases(download_wheel(tmp_path_factory.mktemp("bfcl")))


# -- the correct answers --------------------------------------------------------------------


def _first(values: list[Any]) -> Any:
    return next(v for v in values if v != "")


def _left_out(values: list[Any], optional_too: bool) -> bool:
    # A parameter whose only value is "" cannot be given; one with "" may be left out.
    return all(v == "" for v in values) or (optional_too and "" in values)


def _answer_call(case: Case, expected: dict[str, Any], leave_out_optional: bool) -> dict[str, Any]:
    """The call that gives each parameter its first allowed value, the dicts in it too."""
    [(name, allowed)] = expected.items()
    properties = case.function(name)["parameters"]["properties"]
    required = case.function(name)["parameters"].get("required", [])
    arguments = {}
    for param, values in allowed.items():
        # A parameter outside the schema is never a correct argument (unexpected_param).
        outside = param not in properties
        if outside or _left_out(values, leave_out_optional and param not in required):
            continue
        value, kind = _first(values), properties.get(param, {})
        if kind.get("type") == "dict" and isinstance(value, dict):
            value = _answer_dict(value, leave_out_optional)
        elif kind.get("items", {}).get("type") == "dict" and isinstance(value, list):
            value = [_answer_dict(d, leave_out_optional) for d in value]
        arguments[param] = value
    return {"name": name, "arguments": arguments}


def _answer_dict(allowed: dict[str, list[Any]], leave_out_optional: bool) -> dict[str, Any]:
    # dict_checker: each key's allowed values, "" for a key that may be left out.
    return {k: _first(v) for k, v in allowed.items() if not _left_out(v, leave_out_optional)}


_RESTYLED = str.maketrans(
    {"'": '"', '"': "'", **{c: c.upper() for c in "abcdefghijklmnopqrstuvwxyz"}}
)


def _restyled(case: Case, call: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """The same call with each string BFCL standardises in upper case and the other quote:
    string_checker, list_checker (a list's own strings) and dict_checker (a dict's values)
    lower-case them and read ' as " (``standardize_string``). Variables are left alone: BFCL
    compares them as written."""
    allowed = expected[call["name"]]
    properties = case.function(call["name"])["parameters"]["properties"]
    arguments = dict(call["arguments"])
    for param, value in arguments.items():
        kind, first = properties[param]["type"], _first(allowed[param])
        if kind in ("string", "any") and isinstance(first, str):
            arguments[param] = value.translate(_RESTYLED)
        elif kind in ("array", "tuple") and isinstance(first, list):
            arguments[param] = [v.translate(_RESTYLED) if isinstance(v, str) else v for v in value]
        elif kind == "dict" and isinstance(first, dict):
            arguments[param] = {
                k: v.translate(_RESTYLED) if isinstance(v, str) else v for k, v in value.items()
            }
    return {"name": call["name"], "arguments": arguments}


def answerable(case: Case) -> bool:
    """Whether the possible answer can be given at all: a few want a parameter outside the
    function's schema, or leave a required one out, and BFCL refuses every call built from them
    (unexpected_param, missing_required)."""
    for expected in case.expected:
        [(name, allowed)] = expected.items()
        parameters = case.function(name)["parameters"]
        if any(p not in parameters["properties"] and "" not in v for p, v in allowed.items()):
            return False
        if any(p not in allowed or _left_out(allowed[p], False) for p in parameters["required"]):
            return False
    return True


def correct_answers(case: Case) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Calls BFCL accepts: no call for irrelevance; otherwise the first allowed values, the
    same without the optional parameters, and written differently (parallel calls reversed)."""
    if not case.expected:
        yield "no call", []
        return
    first = [_answer_call(case, e, leave_out_optional=False) for e in case.expected]
    yield "first allowed values", first
    yield (
        "optional left out",
        [_answer_call(case, e, leave_out_optional=True) for e in case.expected],
    )
    restyled = [_restyled(case, c, e) for c, e in zip(first, case.expected, strict=True)]
    # BFCL's no-order check is greedy: each expected call takes the first call that matches it,
    # so calls of one tool in another order can fail where allowed values overlap. Calls of
    # distinct tools each match one expected call only.
    distinct = len({c["name"] for c in first}) == len(first)
    yield "restyled", restyled[::-1] if case.any_order and distinct else restyled


# -- the perturbed calls, each with the rule of ast_checker.py that refuses it ---------------

_PYTHON_TYPES = {
    "string": (str,),
    "any": (str,),
    "integer": (int,),
    "float": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "tuple": (list,),
    "dict": (dict,),
}
_OTHER_TYPES = ({"perturbation": 1}, ["perturbation"], "perturbation", 7.5, True)


def _with(
    calls: list[dict[str, Any]], index: int, arguments: dict[str, Any]
) -> list[dict[str, Any]]:
    return [
        *calls[:index],
        {"name": calls[index]["name"], "arguments": arguments},
        *calls[index + 1 :],
    ]


def _changed(value: Any, allowed: list[Any]) -> Any:
    """A value of the same type that is not allowed, or None when there is none to make."""
    numbers = [a for a in allowed if isinstance(a, int | float) and not isinstance(a, bool)]
    if isinstance(value, bool):
        return None if any(a is (not value) for a in allowed) else not value
    if isinstance(value, int | float):
        return type(value)(max(numbers, default=value) + 1)
    if isinstance(value, str):
        return f"perturbation {value}"
    if isinstance(value, list) and value:
        return [*value, value[-1]]
    if isinstance(value, dict):
        return {**value, "perturbation": 1}
    return None


def perturbations(case: Case) -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    """(what changed, the rule that refuses it, the calls): each change made to each call and
    each argument of the first allowed values, deterministically."""
    if not case.expected:
        tool = case.functions[0]["name"] if case.functions else "perturbation"
        yield "a call made", "irrelevance_error:decoder_success", [{"name": tool, "arguments": {}}]
        return
    calls = [_answer_call(case, e, leave_out_optional=False) for e in case.expected]
    yield "missing call", "wrong_count", calls[:-1]
    yield "extra call", "wrong_count", [*calls, calls[-1]]
    for index, (call, expected) in enumerate(zip(calls, case.expected, strict=True)):
        parameters = case.function(call["name"])["parameters"]
        allowed, arguments = expected[call["name"]], call["arguments"]
        renamed = {"name": f"{call['name']}_renamed", "arguments": arguments}
        assert renamed["name"] not in {f["name"] for f in case.functions}
        yield "wrong name", "wrong_func_name", [*calls[:index], renamed, *calls[index + 1 :]]
        assert "perturbation" not in parameters["properties"]
        yield (
            "outside the schema",
            "unexpected_param",
            _with(calls, index, {**arguments, "perturbation": 1}),
        )
        for param in (p for p in parameters["properties"] if p not in allowed):
            yield (
                "outside the answer",
                "unexpected_param",
                _with(calls, index, {**arguments, param: "perturbation"}),
            )
        for param, value in arguments.items():
            left = _with(calls, index, {k: v for k, v in arguments.items() if k != param})
            if param in parameters["required"]:
                yield "missing required", "missing_required", left
            elif "" not in allowed[param]:
                yield "missing not optional", "missing_optional", left
            kinds = _PYTHON_TYPES[parameters["properties"][param]["type"]]
            first = type(_first(allowed[param]))
            other = next(o for o in _OTHER_TYPES if type(o) not in (*kinds, first))
            yield (
                "wrong type",
                "type_error:simple",
                _with(calls, index, {**arguments, param: other}),
            )
            if (changed := _changed(value, allowed[param])) is not None:
                yield (
                    "changed value",
                    "value_error",
                    _with(calls, index, {**arguments, param: changed}),
                )


# -- the verdicts ------------------------------------------------------------------------------


def _judge(case: Case, calls: list[dict[str, Any]]) -> Any:
    return match_calls(case.tools, case.expected, calls, any_order=case.any_order)


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_answer_bfcl_accepts_passes(bfcl: dict[str, list[Case]], category: str) -> None:
    refused, judged = [], 0
    for case in filter(answerable, bfcl[category]):
        for variant, calls in correct_answers(case):
            judged += 1
            if not (match := _judge(case, calls)):
                refused.append(f"{case.id} ({variant}): {match.reasons[0]}")
    # The counts for the record (``pytest -s``).
    print(f"{category}: {len(bfcl[category])} cases, {judged - len(refused)}/{judged} accepted")
    assert judged, f"no correct answer was built for {category}"
    assert not refused, f"{len(refused)} of {judged} correct answers refused:\n" + "\n".join(
        refused[:10]
    )


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_perturbed_call_bfcl_refuses_fails(
    bfcl: dict[str, list[Case]], category: str
) -> None:
    accepted, kinds, judged = [], set(), 0
    for case in filter(answerable, bfcl[category]):
        for kind, rule, calls in perturbations(case):
            judged, kinds = judged + 1, kinds | {kind}
            if _judge(case, calls):
                accepted.append(f"{case.id}: {kind} (BFCL: {rule}): {json.dumps(calls)[:300]}")
    print(f"{category}: {judged - len(accepted)}/{judged} perturbed calls refused")
    # Each kind is made in some case of each category; irrelevance has one kind only.
    if "irrelevance" in category:
        assert kinds == {"a call made"}
    else:
        assert {
            "wrong name",
            "missing call",
            "extra call",
            "outside the schema",
            "wrong type",
            "changed value",
        } <= kinds, kinds
    assert not accepted, f"{len(accepted)} of {judged} refused calls accepted:\n" + "\n".join(
        accepted[:10]
    )


def test_answers_bfcl_cannot_accept_are_refused(bfcl: dict[str, list[Case]]) -> None:
    """A possible answer that names a parameter outside the schema, or leaves a required one
    out, is refused by BFCL whatever the call; so is it here."""
    unanswerable = [c for cases in bfcl.values() for c in cases if not answerable(c)]
    assert unanswerable, "BFCL's data has such answers; finding none means the rule broke"
    for case in unanswerable:
        for variant, calls in correct_answers(case):
            assert not _judge(case, calls), f"{case.id} ({variant}) was accepted"
