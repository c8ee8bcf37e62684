"""The report: one page that needs nothing from the network, with the failed cases readable."""

from __future__ import annotations

from html.parser import HTMLParser

from llama_rollout.evals.gate import Thresholds, apply_gate
from llama_rollout.evals.harness import ToolCall
from llama_rollout.evals.metrics import coverage, score_case, summarise
from llama_rollout.evals.report import html_report, markdown_summary
from tests.unit.evals.test_metrics import DATASET, TOOLS, pods_call, trial, turn

HOSTILE = "<script>alert('x')</script> & <img src=http://evil/x.png>"


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += attrs


def report_of(results, dataset_cases: int | None = None):
    scores = [score_case(DATASET, r, TOOLS) for r in results]
    metrics = summarise(scores, trials=1) | coverage(len(results), dataset_cases or len(results))
    gate = apply_gate(metrics, Thresholds())
    page = html_report("Evaluation", metrics, gate, scores, results, dataset="t", model="vllm/m")
    return page, metrics, gate


RESULTS = [
    trial("pods", turn("payments-api is failing", pods_call())),
    trial(
        "live", turn(HOSTILE, ToolCall("cluster_health_summary", "{}", HOSTILE, "Error (code 1)"))
    ),
    trial("hello", turn("Hi!")),
    trial("joke", turn("", ToolCall("cluster_health_summary", "{}", "{}"))),
]


def test_the_page_loads_nothing_from_anywhere():
    page, _, _ = report_of(RESULTS)
    elements = Elements()
    elements.feed(page)
    assert {"script", "link", "img", "iframe", "object", "embed"}.isdisjoint(elements.tags)
    assert not [a for a in elements.attributes if a[0] in ("src", "href")]
    assert "url(" not in page and "@import" not in page
    assert page.count("<svg") == 2
    assert page.isascii()


def test_what_the_model_and_the_tools_said_is_escaped():
    page, _, _ = report_of(RESULTS)
    assert "<script>" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page


def test_the_failed_cases_are_listed_with_their_trajectories():
    page, _, _ = report_of(RESULTS)
    assert "Failed cases (2 of 4)" in page
    assert "<code>live</code>" in page and "<code>joke</code>" in page
    assert "<code>pods</code>" not in page, "a passed case is not listed as failed"
    assert "error: Error (code 1)" in page
    assert "no tool should be called, but cluster_health_summary was" in page
    for tool in ("unhealthy_pods", "cluster_health_summary"):
        assert f">{tool}</text>" in page, f"no bar for {tool}"


def test_the_summary_says_the_verdict_and_what_was_missed():
    _, metrics, gate = report_of(RESULTS)
    summary = markdown_summary("Evaluation", metrics, gate, dataset="t", model="vllm/m")
    assert summary.startswith("# Evaluation\n\n**The gate did not pass.**")
    assert "- greeting_accuracy" not in summary and "- irrelevance_accuracy 0.00 < 0.60" in summary
    assert "| task_success | 0.50 |" in summary


def test_the_summary_and_the_report_say_whether_the_whole_dataset_ran():
    page, metrics, gate = report_of(RESULTS)
    summary = markdown_summary("Evaluation", metrics, gate, dataset="t", model="vllm/m")
    assert "the whole dataset: 4 cases x 1 trials" in summary and "the whole dataset" in page
    page, metrics, gate = report_of(RESULTS, dataset_cases=10)
    summary = markdown_summary("Evaluation", metrics, gate, dataset="t", model="vllm/m")
    assert "part of the dataset: 4 of 10 cases x 1 trials" in summary
    assert "part of the dataset: 4 of 10 cases" in page
    assert "case_coverage 0.40 < 1.00" in gate.missed
    assert "| case_coverage | 0.40 |" in summary
