"""The pipeline's parameters, checked together before the first step writes anything.

Each stage checks its own settings where it uses them; this module asks every stage, up
front, with the run's parameters, so that a bad ``chat_template`` fails the run before the
mirror has moved a byte or the registry has a new version. The pipeline's first task and
``run --local`` both call :func:`check_parameters`; neither reaches the network.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from llama_rollout.errors import ConfigurationError
from llama_rollout.evals.dataset import load_dataset
from llama_rollout.evals.quality import check_tasks
from llama_rollout.evals.request import EvaluationRequest
from llama_rollout.http_urls import check_http_url
from llama_rollout.k8s_types import (
    dns_label_problem,
    model_name_from,
    model_name_problem,
    object_name_problem,
)
from llama_rollout.kube.identity import service_account
from llama_rollout.publish.request import PublishRequest
from llama_rollout.registry.request import RegistrationRequest
from llama_rollout.serving.request import SETTING_FIELDS, ServingRequest
from llama_rollout.stack.access import PIPELINE_RUNNER_ACCOUNT
from llama_rollout.stack.request import StackRequest
from llama_rollout.step_parameters import (
    Parameter,
    Request,
    RunParameters,
    parameters,
    pipeline_names,
    pipeline_sources,
    request_from,
)
from llama_rollout.targets import Target
from llama_rollout.weights.plan import check_base_prefix
from llama_rollout.weights.request import HubAccess, MirrorRequest, ResolveRequest
from llama_rollout.weights.source import check_model_name, parse_source_uri

SECRET_PARAMETERS = (
    "data_connection",
    "hf_token_secret",
    "vllm_token_secret",
    "mcp_token_secret",
    "lightspeed_token_secret",
)
NAMESPACE_PARAMETERS = ("namespace", "registry_name", "registry_namespace")
TIMEOUT_PARAMETERS = (
    "serving_timeout_seconds",
    "llama_stack_timeout_seconds",
    "lightspeed_timeout_seconds",
)
MAX_TEXT_LENGTH = 16_384  # a text parameter (JSON of tolerations is the longest)
MAX_LIST_LENGTH = 256
MAX_ITEM_LENGTH = 1_024
# The requests of the pipeline's steps, in pipeline order: a pipeline parameter is the first
# declaration of its name (a later one of the same name is wired from an earlier step).
DECLARATIONS = (
    RunParameters,
    HubAccess,
    ResolveRequest,
    MirrorRequest,
    RegistrationRequest,
    ServingRequest,
    StackRequest,
    EvaluationRequest,
    PublishRequest,
)


def pipeline_parameters() -> dict[str, Parameter]:
    """Each pipeline parameter's declaration, by the pipeline's name."""
    found: dict[str, Parameter] = {}
    for request in DECLARATIONS:
        for declared in parameters(request).values():
            if not declared.required:
                found.setdefault(declared.pipeline, declared)
    return found


# Every whole-number parameter's sane range, as its request bounds it: beyond it is a typo (a
# 30-digit timeout, a 400-digit GPU count), refused by name before anything runs.
INTEGER_RANGES = {
    name: (p.low, p.high)
    for name, p in pipeline_parameters().items()
    if p.annotation is int and p.low is not None and p.high is not None
}
# A stage's field, by the pipeline parameter that sets it (where the names differ).
SERVING_NAMES = pipeline_names(ServingRequest) | {
    setting: pipeline_names(ServingRequest)[field] for setting, field in SETTING_FIELDS.items()
}
STACK_NAMES = pipeline_names(StackRequest)
EVALUATION_NAMES = pipeline_names(EvaluationRequest)
PUBLISH_NAMES = pipeline_names(PublishRequest)
STAND_IN_REVISION = "0" * 40  # names get the revision's first characters: as long as a real one


def check_parameters(values: Mapping[str, Any]) -> None:
    """Check the pipeline's parameters (by the pipeline's names); raise one ConfigurationError
    that names every bad one, or return."""
    problems: list[str] = []

    def check(step: Callable[[], object], names: Mapping[str, str] | None = None) -> None:
        try:
            step()
        except ValidationError as exc:
            problems.extend(_validation_problems(exc, names or {}))
        except ConfigurationError as exc:
            # A stage that words its own settings' errors is reworded by parameter name.
            if isinstance(exc.__cause__, ValidationError) and names:
                problems.extend(_validation_problems(exc.__cause__, names))
            else:
                problems.append(str(exc))

    # Types and magnitudes first; a bad value is named once, and the stages below see a
    # stand-in in its range.
    v = dict(values)
    for name, value in values.items():
        if problem := _magnitude_problem(name, value):
            problems.append(problem)
            v[name] = _in_range(name, value)
    out_of_range = len(problems)
    check(lambda: parse_source_uri(v["source_uri"]))
    if v["model_name"]:
        check(lambda: check_model_name(v["model_name"]))
    check(lambda: check_base_prefix(v["s3_prefix"]))
    check(lambda: Target.parse(v["target"]))
    for name in SECRET_PARAMETERS:
        if (v[name] or name == "data_connection") and (problem := object_name_problem(v[name])):
            problems.append(f"{name}: {problem}: give the Secret's name")
    if v["lightspeed_url"]:
        check(lambda: check_http_url("lightspeed_url", v["lightspeed_url"]))
    if v["registry_url"]:
        check(lambda: check_http_url("registry_url", v["registry_url"]))
    elif v["target"] == Target.OPENSHIFT and not v["registry_name"]:
        problems.append("no Model Registry given: set registry_name (or registry_url)")
    check(lambda: check_http_url("mcp_url", v["mcp_url"]))
    for name in NAMESPACE_PARAMETERS:
        if v[name] and (problem := dns_label_problem(v[name])):
            problems.append(f"{name}: {problem}: give a namespace or object name")
    # A bad namespace is named once above, not again by each stage's settings.
    namespace = v["namespace"] if not dns_label_problem(v["namespace"] or "-") else "default"
    # Likewise a bad model name, which every object's name is made of.
    model = v["model_name"] or model_name_from(v["source_uri"].rstrip("/").rsplit("/", 1)[-1])
    if model_name_problem(model):
        model = "model"
    if v["llama_stack_max_tokens"] >= v["max_model_len"]:
        problems.append(
            f"llama_stack_max_tokens ({v['llama_stack_max_tokens']}) must be below max_model_len "
            f"({v['max_model_len']}), the context window that also holds the prompt: lower "
            "llama_stack_max_tokens, or raise max_model_len"
        )
    check(lambda: _serving_request(v, model).settings(namespace, namespace), SERVING_NAMES)
    # The runner is known once the step runs (it asks the API server); any name checks the rest.
    runner = service_account(namespace, PIPELINE_RUNNER_ACCOUNT)
    check(lambda: _stack_request(v, model).settings(namespace, runner), STACK_NAMES)
    check(lambda: _evaluation_dataset(v))
    check(lambda: check_tasks(_evaluation_request(v).quality), EVALUATION_NAMES)
    check(lambda: _publish_request(v, model).publication(), PUBLISH_NAMES)
    if problems:
        # A value out of range is named once: what a stage then says of its stand-in goes.
        first = {p.split(" ", 1)[0] for p in problems[:out_of_range]}
        problems = problems[:out_of_range] + [
            p for p in problems[out_of_range:] if not any(n in p for n in first)
        ]
        raise ConfigurationError(
            "invalid pipeline parameters: " + "; ".join(" ".join(p.split()) for p in problems),
            hint="fix them and start the run again (nothing was written)",
        )


def _magnitude_problem(name: str, value: Any) -> str | None:
    """What is wrong with a value's type or size, before any stage reads it."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        low, high = INTEGER_RANGES.get(name, (-(2**31), 2**31 - 1))
        if not low <= value <= high:
            unit = "a number of seconds" if name in TIMEOUT_PARAMETERS else "a whole number"
            shown = str(value) if value.bit_length() < 140 else f"a {value.bit_length()}-bit number"
            return f"{name} is {shown}: give {unit} from {low} to {high}"
    elif isinstance(value, float) and not math.isfinite(value):
        return f"{name} is {value}: give a finite number"
    elif isinstance(value, str) and len(value) > MAX_TEXT_LENGTH:
        return f"{name} is {len(value)} characters long: at most {MAX_TEXT_LENGTH}"
    elif isinstance(value, list | tuple):
        if len(value) > MAX_LIST_LENGTH:
            return f"{name} has {len(value)} items: at most {MAX_LIST_LENGTH}"
        for number, item in enumerate(value, 1):
            if isinstance(item, str) and not item.strip():
                return f"{name}: item {number} is empty"
            if not isinstance(item, str):
                return f"{name}: item {number} is {type(item).__name__}, not text: give a list of strings"
            if len(item) > MAX_ITEM_LENGTH:
                return f"{name}: item {number} is {len(item)} characters long: at most {MAX_ITEM_LENGTH}"
    return None


def _in_range(name: str, value: Any) -> Any:
    """A value the stages can check further: the nearest bound, or an empty one."""
    if isinstance(value, int) and not isinstance(value, bool):
        low, high = INTEGER_RANGES.get(name, (-(2**31), 2**31 - 1))
        return min(max(value, low), high)
    return {float: 0.0, str: "", list: [], tuple: []}.get(type(value), value)


def _validation_problems(exc: ValidationError, names: Mapping[str, str]) -> list[str]:
    """Each of a stage's validation errors, by the pipeline parameter it came from."""
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        name = names.get(field, field)
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{name}: {message}" if name else message)
    return problems


def _serving_request(v: dict[str, Any], model: str) -> ServingRequest:
    # The mirror's place and the registry ids are not known yet: stand-ins that are valid.
    # lightspeed_endpoint is left out: it is checked once, with the publish settings.
    return _request(
        ServingRequest,
        v,
        {
            "model_name": model,
            "model_uri": "s3://bucket/model/",
            "storage_path": "model",
            "revision": STAND_IN_REVISION,
            "registered_model_id": "",
            "model_version_id": "",
            "data_connection": v["data_connection"] or "data-connection",
            "lightspeed_endpoint": "llama-stack",
        },
    )


def _request(request: type[Request], v: Mapping[str, Any], given: Mapping[str, Any]) -> Request:
    """``request`` with ``given`` for what earlier steps give, the run's values for the rest."""
    arguments = {
        name: given[name] if name in given else v[source]
        for name, source in pipeline_sources(request).items()
        if name in given or source in v
    }
    return request_from(request, arguments)


def _evaluation_dataset(v: dict[str, Any]) -> None:
    """The dataset loads (built-in, or a file in the image) and has the cases asked for."""
    try:
        dataset = load_dataset(v["eval_dataset"]).dataset
    except ConfigurationError as exc:
        raise ConfigurationError(f"eval_dataset: {exc}") from exc
    if v["eval_cases"]:
        try:
            dataset.subset(list(v["eval_cases"]))
        except ConfigurationError as exc:
            raise ConfigurationError(f"eval_cases: {exc}") from exc


def _evaluation_request(v: dict[str, Any]) -> EvaluationRequest:
    """The evaluation's settings and its gate, validated in one go so that every bad one is
    named."""
    return _request(
        EvaluationRequest,
        v,
        {
            "llama_stack_url": "http://llama-stack:8321",
            "model_id": "vllm/model",
            "serving_url": "http://model-server/v1",
            "serving_model": "model",
        },
    )


def _stack_request(v: dict[str, Any], model: str) -> StackRequest:
    # lightspeed_endpoint is left out: it is checked once, with the publish settings.
    return _request(
        StackRequest,
        v,
        {
            "serving_url": "http://model-server/v1",
            "serving_model": model,
            "revision": STAND_IN_REVISION,
            "lightspeed_endpoint": "llama-stack",
        },
    )


def _publish_request(v: dict[str, Any], model: str) -> PublishRequest:
    # lightspeed_service_account is left out: it is checked once, with the stack settings.
    return _request(
        PublishRequest,
        v,
        {
            "model_name": model,
            "serving_url": "http://model-server/v1",
            "serving_model": model,
            "llama_stack_url": "http://llama-stack:8321",
            "llama_stack_model_id": f"vllm/{model}",
            "service_account": "lightspeed-model-client",
        },
    )
