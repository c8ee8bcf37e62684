"""Every Kubernetes object the pipeline would apply on the cluster, without a cluster.

vLLM's ServingRuntime and InferenceService, then Llama Stack's ConfigMap (with its auth: who
may call it, ``stack.access``) and LlamaStackDistribution (or, with ``--set
stack.operator=false``, its fallback objects). The stack admits the pipeline's runner as
``pipeline-runner-dspa`` of the namespace here; a run admits the service account it runs as.

For review, and for teams that deploy through GitOps: ``llama-rollout render --set KEY=VALUE``
prints them as one YAML stream. Defaults match the pipeline's parameters; the mirrored model's
location (``storage_path``, the revision folder the mirror step reports) is usually the one
value to set.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic.fields import FieldInfo

from llama_rollout import serving, stack
from llama_rollout.assignments import split_assignments, typed_value
from llama_rollout.errors import ConfigurationError, quoted
from llama_rollout.kube.identity import service_account
from llama_rollout.stack.access import PIPELINE_RUNNER_ACCOUNT
from llama_rollout.stack.request import StackAccess
from llama_rollout.stack.settings import MODEL_CLIENT_TOKEN_SECRET, vllm_access

DEFAULTS: dict[str, Any] = {
    "name": "smollm2-135m-instruct",
    "namespace": "llama-rollout",
    "storage_key": "llama-rollout-models",
    "storage_path": "models/smollm2-135m-instruct",
}


STACK_PREFIX = "stack."


def parse_assignments(assignments: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``["gpu_count=2", "stack.replicas=2"]`` -> typed (serving, Llama Stack) values.

    Keys starting with ``stack.`` set the Llama Stack settings (``stack.operator=false`` renders
    the fallback Deployment instead of the operator's CR); values are typed strictly by the
    setting (``assignments``).
    """
    serving_fields = serving.ServingSettings.model_fields
    stack_fields = {
        **{k: f for k, f in stack.StackSettings.model_fields.items() if k != "clients"},
        **StackAccess.model_fields,
        "operator": FieldInfo(annotation=bool),
    }
    values: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
    for key, raw in split_assignments(assignments):
        is_stack = key.startswith(STACK_PREFIX)
        name = key.removeprefix(STACK_PREFIX)
        fields = stack_fields if is_stack else serving_fields
        if name not in fields:
            known = sorted(serving_fields) + sorted(STACK_PREFIX + k for k in stack_fields)
            raise ConfigurationError(
                f"unknown setting {quoted(key)}", hint=f"known settings: {', '.join(known)}"
            )
        values[is_stack][name] = typed_value(key, raw, fields[name].annotation)
    return values


def render(assignments: list[str]) -> str:
    """The YAML stream of every object, for the settings ``DEFAULTS`` + ``assignments``."""
    serving_values, stack_values = parse_assignments(assignments)
    # The pipeline runs where it serves, as with the pipeline's defaults.
    namespace = serving_values.get("namespace", DEFAULTS["namespace"])
    serving_settings = serving.settings_from(
        **{**DEFAULTS, "pipeline_namespaces": (namespace,), **serving_values}
    )
    operator = bool(stack_values.pop("operator", True))
    predictor = serving.objects.predictor_url(serving_settings)
    namespace = serving_settings.namespace
    access = StackAccess(
        **{k: stack_values.pop(k) for k in StackAccess.model_fields if k in stack_values}
    )
    runner = service_account(namespace, PIPELINE_RUNNER_ACCOUNT)
    vllm = vllm_access(serving_settings.auth, MODEL_CLIENT_TOKEN_SECRET)
    stack_settings = stack.settings_from(
        namespace=namespace,
        vllm_url=predictor,
        **{**vllm, **{k: stack_values.pop(k) for k in vllm if k in stack_values}},
        clients=access.clients(namespace, runner, lightspeed=True),
        **stack_values,
    )
    objects = serving.serving_objects(serving_settings) + stack.stack_objects(
        stack_settings, operator=operator
    )
    return yaml.dump_all(objects, Dumper=_Readable, sort_keys=False, explicit_start=True)


class _Readable(yaml.SafeDumper):
    """YAML for review: a multi-line string (the stack's ``config.yaml``, with its auth and
    policies) as a literal block, not one escaped line."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None
    )


_Readable.add_representer(str, _text)


__all__ = ["DEFAULTS", "parse_assignments", "render"]
