"""The lm-eval task's questions and scorer, the settings' checks, and how lm-eval's results
are read back."""

from __future__ import annotations

import importlib.util

import pytest
import yaml
from pydantic import ValidationError

from llama_rollout.errors import ConfigurationError
from llama_rollout.evals.quality import (
    BUILT_IN_TASKS,
    TASKS_DIR,
    QualitySettings,
    _metrics,
    _samples,
    check_tasks,
)


def task_module():
    """The task's module as lm-eval loads it: by path, outside the package."""
    spec = importlib.util.spec_from_file_location(
        "troubleshooting", TASKS_DIR / "troubleshooting.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("response", "answers", "right"),
    [
        ("CrashLoopBackOff", ["CrashLoopBackOff"], True),
        ("The pod is in crashloopbackoff.", ["CrashLoopBackOff"], True),
        ("It exits with code 137", ["137"], True),
        ("It exits with code 1370", ["137"], False),  # whole words only
        ("use `kubectl logs --previous`", ["--previous"], True),
        ("The Route object", ["Route"], True),
        ("the router pods", ["Route"], False),
        ("oc adm must-gather", ["must-gather"], True),
        ("ImagePullBackOff", ["CrashLoopBackOff"], False),
        ("", ["Secret"], False),
    ],
)
def test_an_answer_is_right_when_it_says_an_accepted_answer_in_whole_words(
    response, answers, right
):
    assert task_module().is_right(response, answers) is right


def test_the_questions_are_well_formed_and_none_gives_its_answer_away():
    module = task_module()
    rows = yaml.safe_load(module.QUESTIONS.read_text())
    assert len(rows) >= 20
    assert len({r["id"] for r in rows}) == len(rows)
    for row in rows:
        assert set(row) == {"id", "question", "answers"}, row["id"]
        assert row["answers"] and all(isinstance(a, str) and a for a in row["answers"]), row["id"]
        # An answer that echoes the question must not score.
        assert not module.is_right(row["question"], row["answers"]), row["id"]


def test_the_task_yaml_points_at_functions_that_exist():
    module = task_module()
    text = (TASKS_DIR / "openshift_troubleshooting.yaml").read_text()
    for name in ("load_questions", "prompt", "score"):
        assert f"!function troubleshooting.{name}" in text and callable(getattr(module, name))
    assert module.score({"answers": ["Secret"]}, ["a missing Secret"]) == {"acc": 1.0}


def test_the_built_in_task_is_known_to_lm_eval_offline():
    check_tasks(QualitySettings())  # raises if lm-eval cannot index the shipped task
    assert QualitySettings().offline and not QualitySettings(tasks=("gsm8k",)).offline


def test_an_unknown_task_is_named():
    with pytest.raises(ConfigurationError, match=r"lm-eval knows no task no_such_task_x"):
        check_tasks(QualitySettings(tasks=(BUILT_IN_TASKS[0], "no_such_task_x")))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"tasks": ("a b",)}, "not an lm-eval task name"),
        ({"tasks": ("$(rm -rf /)",)}, "not an lm-eval task name"),
        ({"tasks": ("gsm8k", "gsm8k")}, "named twice"),
        ({"num_concurrent": 0}, "greater than or equal to 1"),
        ({"limit": -1}, "greater than or equal to 0"),
    ],
)
def test_bad_settings_are_refused(values, message):
    with pytest.raises(ValidationError, match=message):
        QualitySettings(**values)


def test_scores_are_flattened_by_task_and_metric_without_stderr_or_nan():
    results = {
        "openshift_troubleshooting": {
            "alias": "openshift_troubleshooting", "acc,none": 0.25, "acc_stderr,none": "N/A",
        },
        "gsm8k": {"exact_match,strict-match": 0.5, "exact_match,flexible-extract": float("nan")},
    }  # fmt: skip
    assert _metrics(results) == {
        "lm_eval.gsm8k.exact_match_strict-match": 0.5,
        "lm_eval.openshift_troubleshooting.acc": 0.25,
    }


def test_a_sample_keeps_the_question_as_the_model_saw_it_and_its_answer():
    logged = {
        "openshift_troubleshooting": [{
            "doc_id": 3, "target": "137", "metrics": ["acc"], "acc": 0.0,
            "arguments": [[['[{"role": "user", "content": "What exit code?"}]'], {"until": []}]],
            "resps": [["It is 1."]], "filtered_resps": ["It is 1."],
        }]
    }  # fmt: skip
    assert _samples(logged) == [
        {
            "task": "openshift_troubleshooting", "doc_id": 3, "prompt": "What exit code?",
            "target": "137", "response": "It is 1.", "scores": {"acc": 0.0},
        }
    ]  # fmt: skip
