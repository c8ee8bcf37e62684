"""The ``openshift_troubleshooting`` lm-eval task's questions, prompt and scorer.

lm-eval loads this file by path (``!function troubleshooting.score``), not as part of the
``llama_rollout`` package, so it needs nothing but the standard library, PyYAML and
``datasets``, which lm-eval itself brings.

An answer is right when it contains one of the accepted answers as whole words, after
lower-casing and turning punctuation into spaces: a chat model answers in a sentence, and
"the pod is in CrashLoopBackOff." is as right as "CrashLoopBackOff".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

QUESTIONS = Path(__file__).with_name("openshift_troubleshooting_questions.yaml")
INSTRUCTION = "Answer in as few words as you can, with no explanation."
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def load_questions(**_: Any) -> dict[str, Any]:
    """The task's one split, ``test``, as lm-eval's ``custom_dataset`` wants it."""
    import datasets

    rows = yaml.safe_load(QUESTIONS.read_text())
    return {"test": datasets.Dataset.from_list(rows)}


def prompt(doc: dict[str, Any]) -> str:
    return f"{INSTRUCTION}\n\n{doc['question']}"


def normalise(text: str) -> str:
    return " " + _NOT_WORD.sub(" ", text.lower()).strip() + " "


def is_right(response: str, answers: list[str]) -> bool:
    said = normalise(response)
    return any(normalise(answer) in said for answer in answers)


def score(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    return {"acc": float(is_right(results[0], doc["answers"]))}
