"""Scores: each case trial judged by the rules of ``scoring``, then the figures per tool and
overall. Pure functions of the dataset and the trajectories.

A trial succeeds when every turn made the expected calls (BFCL's rules) and said what it had
to, with no transport error. Irrelevance cases (greetings counted apart) succeed when no tool
was called. pass^k is over the trials of each case, averaged.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from llama_rollout.evals.dataset import Dataset
from llama_rollout.evals.harness import CaseResult
from llama_rollout.evals.scoring import (
    answer_has_facts,
    call_in_text,
    match_calls,
    normalise,
    pass_hat_k,
    repeated_calls,
)

# What in a tool's output names something: pod, node and reason names, numbers with units.
_SALIENT = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9][A-Za-z0-9._/-]{3,}$")


@dataclass
class CaseScore:
    """How one trial of one case went."""

    case_id: str
    trial: int
    tools: tuple[str, ...]
    irrelevance: bool
    greeting: bool
    selection_ok: bool = True
    arguments_ok: bool = True
    answer_ok: bool | None = None  # None: no turn checks its answer
    calls_in_text: int = 0
    repeated_calls: int = 0
    error: str | None = None
    latency_s: float = 0.0
    tokens: int = 0
    reasons: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return (
            self.error is None
            and self.selection_ok
            and self.arguments_ok
            and self.answer_ok is not False
        )


def score_case(dataset: Dataset, result: CaseResult, tools: Sequence[dict[str, Any]]) -> CaseScore:
    """Judge one trial against its case."""
    case = next(c for c in dataset.cases if c.id == result.case_id)
    score = CaseScore(
        case.id,
        result.trial,
        tuple(sorted({t for turn in case.turns for t in turn.tools})),
        case.irrelevance,
        case.greeting,
        error=result.error,
        latency_s=result.latency_s,
        tokens=result.tokens,
    )
    if result.error is not None:
        score.selection_ok = score.arguments_ok = False
        score.reasons.append(result.error)
        return score
    names = [t["name"] for t in tools]
    every_call: list[dict[str, Any]] = []
    for number, (turn, ran) in enumerate(zip(case.turns, result.turns, strict=False), 1):
        calls = [{"name": c.name, "arguments": c.arguments} for c in ran.calls]
        every_call += calls
        match = match_calls(tools, turn.calls, calls, any_order=turn.any_order)
        score.selection_ok &= match.names_match
        score.arguments_ok &= match.passed
        score.reasons += [f"turn {number}: {r}" for r in match.reasons]
        score.calls_in_text += call_in_text(ran.text, names)
        if turn.facts or turn.grounded:
            ok = True
            if missing := answer_has_facts(ran.text, turn.facts):
                ok = False
                score.reasons.append(f"turn {number}: the answer does not say {missing}")
            if turn.grounded and not grounded(ran.text, [c.output for c in ran.calls]):
                ok = False
                score.reasons.append(
                    f"turn {number}: the answer mentions nothing the tools returned"
                )
            score.answer_ok = ok if score.answer_ok is None else score.answer_ok and ok
    if len(result.turns) < len(case.turns):
        score.arguments_ok = score.selection_ok = False
        score.reasons.append(f"only {len(result.turns)} of {len(case.turns)} turns ran")
    score.repeated_calls = repeated_calls(every_call)
    return score


def grounded(text: str, outputs: Iterable[str]) -> bool:
    """True when ``text`` mentions a name or value that a tool returned."""
    said = normalise(text)
    return any(normalise(value) in said for value in _salient_values(outputs))


def _salient_values(outputs: Iterable[str]) -> set[str]:
    values: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)
        elif isinstance(node, str) and _SALIENT.match(node) and len(normalise(node)) >= 4:
            values.add(node)

    for output in outputs:
        try:
            walk(json.loads(output))
        except ValueError:
            walk([word for word in output.split() if _SALIENT.match(word)])
    return values


def summarise(scores: Sequence[CaseScore], trials: int) -> dict[str, float]:
    """The flat figures, overall and per tool (``tool.<name>.selection`` and ``.arguments``)."""
    relevant = [s for s in scores if not s.irrelevance]
    irrelevant = [s for s in scores if s.irrelevance and not s.greeting]
    greetings = [s for s in scores if s.greeting]
    answered = [s for s in scores if s.answer_ok is not None and s.error is None]
    metrics: dict[str, float] = {
        "cases": float(len({s.case_id for s in scores})),
        "trials": float(trials),
        "tool_selection_accuracy": _share(s.selection_ok for s in relevant),
        "argument_accuracy": _share(s.arguments_ok for s in relevant),
        "irrelevance_accuracy": _share(s.success for s in irrelevant),
        "greeting_accuracy": _share(s.success for s in greetings),
        "answer_correctness": _share(bool(s.answer_ok) for s in answered),
        "task_success": _share(s.success for s in scores),
        f"pass_hat_{trials}": _pass_hat_k(scores, trials),
        "calls_in_text_rate": _share(s.calls_in_text > 0 for s in scores),
        "tool_loop_cases": float(sum(s.repeated_calls > 0 for s in scores)),
        "error_rate": _share(s.error is not None for s in scores),
        "latency_p50_s": _percentile([s.latency_s for s in scores], 50),
        "latency_p95_s": _percentile([s.latency_s for s in scores], 95),
        "tokens_per_case": sum(s.tokens for s in scores) / len(scores) if scores else 0.0,
    }
    for tool in sorted({t for s in relevant for t in s.tools}):
        using = [s for s in relevant if tool in s.tools]
        metrics[f"tool.{tool}.selection"] = _share(s.selection_ok for s in using)
        metrics[f"tool.{tool}.arguments"] = _share(s.arguments_ok for s in using)
    return metrics


def coverage(evaluated_cases: int, dataset_cases: int) -> dict[str, float]:
    """How much of the dataset an evaluation ran: the gate asks for all of it by default."""
    return {"dataset_cases": float(dataset_cases), "case_coverage": evaluated_cases / dataset_cases}


def _share(flags: Iterable[bool]) -> float:
    values = list(flags)
    return sum(values) / len(values) if values else math.nan


def _pass_hat_k(scores: Sequence[CaseScore], k: int) -> float:
    by_case: dict[str, list[bool]] = {}
    for s in scores:
        by_case.setdefault(s.case_id, []).append(s.success)
    values = [pass_hat_k(sum(v), len(v), k) for v in by_case.values() if len(v) >= k]
    return sum(values) / len(values) if values else math.nan


def _percentile(values: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]
