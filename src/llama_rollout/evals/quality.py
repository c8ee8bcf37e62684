"""General quality with lm-eval, against vLLM's OpenAI-compatible chat completions.

The tool-use evaluation asks whether the model calls the cluster's tools well; this asks
whether it still knows its trade. It runs lm-eval's ``local-chat-completions`` model against
the served model, with ``num_concurrent`` requests at once. Chat completions return no
log-probabilities, so only generative tasks (``generate_until``) can run.

The built-in task, ``openshift_troubleshooting`` (``lm_eval_tasks/``), ships its questions and
works offline. Any other task name is one of lm-eval's own, whose dataset lm-eval downloads
from the Hugging Face hub: that works on a cluster that can reach it. With only built-in
tasks, the run is held offline (``HF_HUB_OFFLINE``), so that it can never wait on a hub.

The token for an endpoint that requires auth goes into the request header only, never into
lm-eval's ``model_args``, which lm-eval copies into its results.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llama_rollout.bounds import VLLM_PROBE
from llama_rollout.errors import ConfigurationError, RolloutError
from llama_rollout.json_http import request_json
from llama_rollout.redaction import excerpt
from llama_rollout.step_parameters import parameter

logger = logging.getLogger(__name__)

TASKS_DIR = Path(__file__).with_name("lm_eval_tasks")
BUILT_IN_TASKS = ("openshift_troubleshooting",)
PREFIX = "lm_eval."
_TASK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


class QualityError(RolloutError):
    """lm-eval could not run a task, or its server did not answer."""


class QualitySettings(BaseModel):
    """Which lm-eval tasks run, and how hard the endpoint is pushed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tasks: tuple[str, ...] = parameter(
        BUILT_IN_TASKS,
        component="lm_eval_tasks",
        description="lm-eval tasks run against vLLM for general quality (not gated): "
        "``openshift_troubleshooting`` is built in and offline; lm-eval's own generative tasks "
        "need the hub. Empty turns lm-eval off.",
    )
    num_concurrent: int = parameter(
        4,
        ge=1,
        le=64,
        component="lm_eval_concurrency",
        description="lm-eval requests at once (``num_concurrent``).",
    )
    limit: int = parameter(
        0,
        ge=0,
        le=1_000_000,
        component="lm_eval_limit",
        description="samples per lm-eval task; 0 for all.",
    )
    timeout_s: int = Field(default=120, ge=1, le=3600, description="per request")
    max_retries: int = Field(default=3, ge=1, le=10)

    @field_validator("tasks")
    @classmethod
    def _names(cls, tasks: tuple[str, ...]) -> tuple[str, ...]:
        for name in tasks:
            if not _TASK_NAME.match(name):
                raise ValueError(
                    f"{name[:80]!r} is not an lm-eval task name (letters, digits, _ . -)"
                )
        if len(set(tasks)) != len(tasks):
            raise ValueError("a task is named twice")
        return tasks

    @property
    def offline(self) -> bool:
        return set(self.tasks) <= set(BUILT_IN_TASKS)


@dataclass(frozen=True)
class QualityResult:
    """Each task's scores (``lm_eval.<task>.<metric>``) and every sample it asked."""

    metrics: dict[str, float]
    samples: list[dict[str, Any]] = field(default_factory=list)


def task_manager(settings: QualitySettings) -> Any:
    """lm-eval's TaskManager with the built-in task; lm-eval's own tasks only when asked for
    (indexing them reads thousands of files)."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(TASKS_DIR), include_defaults=not settings.offline)


def check_tasks(settings: QualitySettings) -> None:
    """Every task named is one lm-eval knows; raise before anything runs otherwise."""
    if not settings.tasks:
        return
    manager = task_manager(settings)
    known = set(manager.all_tasks)
    unknown = [name for name in settings.tasks if name not in known]
    if unknown:
        raise ConfigurationError(
            f"lm_eval_tasks: lm-eval knows no task {', '.join(unknown)}",
            hint=f"give lm-eval task names (`lm_eval ls tasks`), {BUILT_IN_TASKS[0]} "
            "for the built-in one, or an empty list to turn lm-eval off",
        )
    for name in settings.tasks:
        if scored := _scored_by_likelihood(manager, name):
            task, kind = scored
            which = name if task == name else f"{name} (its task {task})"
            raise ConfigurationError(
                f"lm_eval_tasks: {which} is a {kind.replace('_', '-')} task: it scores "
                "log-probabilities, which the chat completions lm-eval asks here do not return",
                hint="give generative (generate_until) tasks, such as gsm8k or "
                f"{BUILT_IN_TASKS[0]}",
            )


def _scored_by_likelihood(manager: Any, name: str, depth: int = 0) -> tuple[str, str] | None:
    """The first task under ``name`` (a task, a group or a tag) that is not generative, with
    its output type; None when every one is generative."""
    entry = manager.task_index.get(name)
    if entry is None or depth > 8:
        return None
    if entry.kind.name == "TASK":
        # lm-eval's TaskConfig defaults output_type to generate_until.
        kind = entry.cfg.get("output_type", "generate_until")
        return None if kind == "generate_until" else (name, kind)
    if entry.kind.name == "GROUP":
        members = [m for m in entry.cfg.get("task", []) if isinstance(m, str)]
    else:
        members = [n for n, e in manager.task_index.items() if name in (e.tags or ())]
    for member in members:
        if found := _scored_by_likelihood(manager, member, depth + 1):
            return found
    return None


def check_endpoint(
    base_url: str, model: str, *, api_key: str | None = None, ca_certs: str | None = None
) -> None:
    """vLLM answers at ``base_url`` and serves ``model``: checked before any case runs, so
    that a wrong URL fails in a second, not after the tool-use evaluation."""
    status, listing = request_json(
        "GET",
        f"{base_url.rstrip('/')}/models",
        bound=VLLM_PROBE,
        what="the model server (lm-eval)",
        token=api_key,
        ca_certs=ca_certs,
        unreachable=QualityError,
    )
    if status in (401, 403):
        raise QualityError(
            f"the model server at {base_url} refused lm-eval ({status})",
            hint="the endpoint requires auth: the step sends its service-account token",
        )
    served = [m.get("id") for m in listing.get("data") or []] if isinstance(listing, dict) else []
    if status != 200 or model not in served:
        raise QualityError(
            f"the model server at {base_url} does not serve {model} ({status}: "
            f"{', '.join(map(str, served)) or excerpt(listing, 200)})",
            hint="lm-eval asks vLLM directly: check serving_url and serving_model",
        )


def run_quality(
    base_url: str,
    model: str,
    settings: QualitySettings,
    *,
    api_key: str | None = None,
    ca_certs: str | None = None,
) -> QualityResult:
    """Run the tasks against the chat completions at ``base_url`` (``.../v1``) for ``model``;
    an HTTPS endpoint's certificate is checked against ``ca_certs``.

    Raises:
        QualityError: the server did not answer, or lm-eval could not run a task.
    """
    from lm_eval import simple_evaluate
    from lm_eval.models.openai_completions import LocalChatCompletion

    header = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    lm = LocalChatCompletion(
        model=model,
        base_url=f"{base_url.rstrip('/')}/chat/completions",
        num_concurrent=settings.num_concurrent,
        max_retries=settings.max_retries,
        timeout=settings.timeout_s,
        header=header or None,
        verify_certificate=_certificate_check(ca_certs, settings.num_concurrent),  # type: ignore[arg-type]
        tokenizer_backend=None,
        tokenized_requests=False,
    )
    logger.info(
        "lm-eval: %s against %s (%d at once)",
        ", ".join(settings.tasks),
        base_url,
        settings.num_concurrent,
    )
    try:
        with _environment(_OFFLINE if settings.offline else {}):
            results = simple_evaluate(
                model=lm,
                tasks=list(settings.tasks),
                task_manager=task_manager(settings),
                apply_chat_template=True,
                limit=settings.limit or None,
                log_samples=True,
                random_seed=0,
                numpy_random_seed=0,
                torch_random_seed=None,
                fewshot_random_seed=0,
                bootstrap_iters=0,
            )
    except (ConfigurationError, QualityError):
        raise
    except Exception as exc:  # lm-eval raises whatever its backends raise
        raise QualityError(
            f"lm-eval could not run {', '.join(settings.tasks)} against {base_url}: "
            f"{type(exc).__name__}: {excerpt(str(exc).splitlines()[0], 300) if str(exc) else ''}",
            hint="check that vLLM answers chat completions there; on a cluster with no "
            "route to the Hugging Face hub, run only the built-in task",
        ) from exc
    if results is None:  # lm-eval returns None on ranks other than 0; there is one here
        raise QualityError("lm-eval returned no results")
    return QualityResult(_metrics(results["results"]), _samples(results.get("samples", {})))


def _certificate_check(ca_certs: str | None, concurrent: int) -> bool | str | ssl.SSLContext:
    """What lm-eval checks the server's certificate with: it hands ``verify_certificate`` to
    requests when it sends one request at a time (``verify``: a CA file) and to aiohttp when it
    sends several (``ssl``: a context). The environment would not do: aiohttp reads its CAs
    once, when it is first imported, and something else may import it first."""
    if not ca_certs:
        return True
    return ca_certs if concurrent <= 1 else ssl.create_default_context(cafile=ca_certs)


def _metrics(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    metrics = {}
    for task, values in sorted(results.items()):
        for key, value in values.items():
            metric, _, filter_name = key.partition(",")
            if not filter_name or "_stderr" in metric or not isinstance(value, int | float):
                continue
            name = metric if filter_name == "none" else f"{metric}_{filter_name}"
            if not math.isnan(value):
                metrics[f"{PREFIX}{task}.{name}"] = float(value)
    return metrics


def _samples(samples: dict[str, Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = []
    for task, logged in sorted(samples.items()):
        for sample in logged:
            response = (sample.get("filtered_resps") or [""])[0]
            rows.append(
                {
                    "task": task,
                    "doc_id": sample.get("doc_id"),
                    "prompt": _prompt(sample),
                    "target": str(sample.get("target")),
                    "response": response[0] if isinstance(response, list) else str(response),
                    "scores": {name: sample.get(name) for name in sample.get("metrics", ())},
                }
            )
    return rows


def _prompt(sample: dict[str, Any]) -> str:
    """The question as the model saw it: the last message of the chat that lm-eval sent
    (``arguments`` of a generate_until request is ``[[context, gen_kwargs]]``)."""
    try:
        context = sample["arguments"][0][0]
        context = context[0] if isinstance(context, list | tuple) else context
    except (KeyError, IndexError, TypeError):
        return ""
    try:
        return str(json.loads(context)[-1]["content"])
    except (ValueError, KeyError, IndexError, TypeError):
        return str(context)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
