"""The evaluation's report: a Markdown summary, and one self-contained HTML page.

The OpenShift AI dashboard shows an HTML artifact in a sandboxed iframe, so the page carries
everything itself: inline CSS, charts as inline SVG, no scripts, fonts or images from
anywhere. Every text that came from the model or a tool is escaped.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from llama_rollout.evals.gate import GateResult
from llama_rollout.evals.harness import CaseResult
from llama_rollout.evals.metrics import CaseScore
from llama_rollout.evals.quality import PREFIX as QUALITY_PREFIX

HEADLINE = (
    "tool_selection_accuracy",
    "argument_accuracy",
    "irrelevance_accuracy",
    "greeting_accuracy",
    "answer_correctness",
    "task_success",
    "error_rate",
    "calls_in_text_rate",
    "case_coverage",
    "tool_loop_cases",
    "latency_p50_s",
    "latency_p95_s",
    "tokens_per_case",
)


def _figure(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:.0f}" if value == int(value) and abs(value) >= 1 else f"{value:.2f}"


def _extent(metrics: Mapping[str, float]) -> str:
    """How much was evaluated: the whole dataset, or which part of it."""
    cases, trials = _figure(metrics["cases"]), _figure(metrics["trials"])
    if metrics.get("case_coverage", 1.0) >= 1.0:
        return f"the whole dataset: {cases} cases x {trials} trials"
    return f"part of the dataset: {cases} of {_figure(metrics['dataset_cases'])} cases x {trials} trials"


def markdown_summary(
    title: str,
    metrics: Mapping[str, float],
    gate: GateResult,
    *,
    dataset: str,
    model: str,
    caller: str = "",
) -> str:
    """The run's verdict and headline figures, for the KFP Markdown artifact."""
    verdict = "passed" if gate.passed else "did not pass"
    lines = [
        f"# {title}",
        "",
        f"**The gate {verdict}.** Model `{model}`, dataset `{dataset}`, {_extent(metrics)}.",
        "",
    ]
    if caller:
        lines += [f"Llama Stack's records name the evaluation's calls as `{caller}`.", ""]
    if gate.missed:
        lines += ["Thresholds missed:", "", *[f"- {m}" for m in gate.explained()], ""]
    lines += ["| score | value |", "| --- | --- |"]
    lines += [f"| {name} | {_figure(metrics[name])} |" for name in HEADLINE if name in metrics]
    if quality := _quality_scores(metrics):
        lines += [
            "",
            "General quality (lm-eval, not gated):",
            "",
            "| task | score | value |",
            "| --- | --- | --- |",
            *[f"| {t} | {m} | {_figure(v)} |" for t, m, v in quality],
        ]
    return "\n".join(lines) + "\n"


def _quality_scores(metrics: Mapping[str, float]) -> list[tuple[str, str, float]]:
    """(task, metric, value) of every lm-eval score."""
    return [
        (*name.removeprefix(QUALITY_PREFIX).split(".", 1), value)  # type: ignore[misc]
        for name, value in metrics.items()
        if name.startswith(QUALITY_PREFIX)
    ]


def html_report(
    title: str,
    metrics: Mapping[str, float],
    gate: GateResult,
    scores: Sequence[CaseScore],
    results: Sequence[CaseResult],
    *,
    dataset: str,
    model: str,
    caller: str = "",
    quality: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The whole report as one HTML document with no external resources; ``quality`` are
    lm-eval's samples, whose wrong answers it lists."""
    e = html.escape
    tools = sorted(
        k.split(".")[1] for k in metrics if k.startswith("tool.") and k.endswith(".arguments")
    )
    per_tool = [
        (tool, metrics[f"tool.{tool}.selection"], metrics[f"tool.{tool}.arguments"])
        for tool in tools
    ]
    failed = [(s, r) for s, r in zip(scores, results, strict=True) if not s.success]
    verdict = "passed" if gate.passed else "did not pass"
    rows = "".join(
        f"<tr><td>{e(name)}</td><td>{e(_figure(metrics[name]))}</td></tr>"
        for name in HEADLINE
        if name in metrics
    )
    missed = "".join(f"<li>{e(m)}</li>" for m in gate.explained())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #1f2328; max-width: 70em; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #d0d7de; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }}
.passed {{ color: #1a7f37; }} .failed {{ color: #cf222e; }}
pre {{ white-space: pre-wrap; background: #f6f8fa; padding: 0.5em; margin: 0.2em 0; }}
details {{ margin: 0.5em 0; }}
</style></head>
<body>
<h1>{e(title)}</h1>
<p class="{"passed" if gate.passed else "failed"}"><strong>The gate {verdict}.</strong>
Model <code>{e(model)}</code>, dataset <code>{e(dataset)}</code>, {e(_extent(metrics))}.</p>
{f"<p>Llama Stack's records name the evaluation's calls as <code>{e(caller)}</code>.</p>" if caller else ""}
{f"<p>Thresholds missed:</p><ul>{missed}</ul>" if missed else ""}
<h2>Scores</h2>
<table><tr><th>score</th><th>value</th></tr>{rows}</table>
<h2>Accuracy per tool</h2>
{bar_chart(per_tool)}
<h2>Latency per case</h2>
{histogram([s.latency_s for s in scores], unit="s")}
<h2>Failed cases ({len(failed)} of {len(scores)})</h2>
{"".join(_failed_case(s, r) for s, r in failed) or "<p>None.</p>"}
{_quality_section(metrics, quality)}
</body></html>
"""


def _quality_section(metrics: Mapping[str, float], samples: Sequence[Mapping[str, Any]]) -> str:
    scores = _quality_scores(metrics)
    if not scores:
        return ""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(t)}</td><td>{e(m)}</td><td>{e(_figure(v))}</td></tr>" for t, m, v in scores
    )
    wrong = [s for s in samples if not all(s["scores"].values())]
    answers = "".join(
        f"<tr><td>{e(s['task'])}</td><td>{e(s['prompt'][-400:])}</td><td>{e(str(s['target']))}"
        f"</td><td>{e(s['response'][:400])}</td></tr>"
        for s in wrong
    )
    return (
        "<h2>General quality (lm-eval, not gated)</h2>"
        f"<table><tr><th>task</th><th>score</th><th>value</th></tr>{rows}</table>"
        + (
            f"<details><summary>Wrong answers ({len(wrong)} of {len(samples)})</summary>"
            "<table><tr><th>task</th><th>question</th><th>expected</th><th>answer</th></tr>"
            f"{answers}</table></details>"
            if wrong
            else ""
        )
    )


def _failed_case(score: CaseScore, result: CaseResult) -> str:
    e = html.escape
    turns = []
    for number, turn in enumerate(result.turns, 1):
        calls = "".join(
            f"<li><code>{e(c.name)}({e(c.arguments)})</code>"
            + (f" <span class=failed>error: {e(c.error)}</span>" if c.error else "")
            + f"<pre>{e(c.output[:2000])}</pre></li>"
            for c in turn.calls
        )
        turns.append(
            f"<p><strong>turn {number}</strong> ({turn.latency_s:.1f} s): {e(turn.input)}</p>"
            f"<ul>{calls or '<li>no call</li>'}</ul><pre>{e(turn.text[:2000])}</pre>"
        )
    reasons = "".join(f"<li>{e(r)}</li>" for r in score.reasons)
    return (
        f"<details><summary><code>{e(score.case_id)}</code> trial {score.trial + 1}: "
        f"{e(score.reasons[0] if score.reasons else 'failed')}</summary>"
        f"<ul>{reasons}</ul>{''.join(turns)}</details>"
    )


def bar_chart(rows: Sequence[tuple[str, float, float]], *, width: int = 640) -> str:
    """Selection and argument accuracy per tool, as horizontal bars in inline SVG."""
    if not rows:
        return "<p>No tool cases.</p>"
    label, bar, height = 200, width - 260, 22
    parts = []
    for i, (tool, selection, arguments) in enumerate(rows):
        y = i * height * 2 + 4
        parts.append(f'<text x="0" y="{y + 16}" font-size="13">{html.escape(tool)}</text>')
        for j, (value, colour) in enumerate(((selection, "#8c959f"), (arguments, "#0969da"))):
            length = 0 if math.isnan(value) else value * bar
            parts.append(
                f'<rect x="{label}" y="{y + j * height}" width="{length:.1f}" height="{height - 4}" '
                f'fill="{colour}"/><text x="{label + length + 4:.1f}" y="{y + j * height + 14}" '
                f'font-size="12">{_figure(value)}</text>'
            )
    total = len(rows) * height * 2 + 30
    legend = (
        f'<rect x="{label}" y="{total - 20}" width="12" height="12" fill="#8c959f"/>'
        f'<text x="{label + 16}" y="{total - 10}" font-size="12">tool selection</text>'
        f'<rect x="{label + 120}" y="{total - 20}" width="12" height="12" fill="#0969da"/>'
        f'<text x="{label + 136}" y="{total - 10}" font-size="12">arguments (BFCL rules)</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{total}" '
        f'viewBox="0 0 {width} {total}"><title>Accuracy per tool</title>'
        + "".join(parts)
        + legend
        + "</svg>"
    )


def histogram(values: Sequence[float], *, unit: str, bins: int = 10, width: int = 640) -> str:
    """A histogram of ``values`` in inline SVG."""
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return "<p>No cases ran.</p>"
    low, high = min(finite), max(finite)
    step = (high - low) / bins or 1.0
    counts = [0] * bins
    for v in finite:
        counts[min(int((v - low) / step), bins - 1)] += 1
    height, top = 160, max(counts)
    bar = (width - 40) / bins
    parts = []
    for i, count in enumerate(counts):
        h = count / top * (height - 30)
        x = 20 + i * bar
        parts.append(
            f'<rect x="{x:.1f}" y="{height - 20 - h:.1f}" width="{bar - 2:.1f}" height="{h:.1f}" '
            f'fill="#0969da"><title>{count} cases, {low + i * step:.1f}-{low + (i + 1) * step:.1f} '
            f"{unit}</title></rect>"
        )
    axis = (
        f'<text x="20" y="{height - 4}" font-size="12">{low:.1f} {unit}</text>'
        f'<text x="{width - 80}" y="{height - 4}" font-size="12">{high:.1f} {unit}</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>Latency per case</title>'
        + "".join(parts)
        + axis
        + "</svg>"
    )
