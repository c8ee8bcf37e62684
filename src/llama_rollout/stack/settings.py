"""What decides the Llama Stack deployment: typed settings, checked before anything is built."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from llama_rollout.errors import invalid_settings, quoted
from llama_rollout.k8s_types import DnsLabel, Quantity, image_reference_problem
from llama_rollout.kube.trust import POD_SERVICE_CA
from llama_rollout.stack.access import StackClients
from llama_rollout.stack.traces import INSTRUMENT, otel_environment, otlp_endpoint_problem

LLSD_API = "llamastack.io/v1alpha1"
PORT = 8321
PROVIDER_ID = "vllm"
# The config format this project writes: `version: 2`, the `responses` API (0.7 renamed it from
# `agents`) and vLLM's `base_url` (0.4 renamed it from `url`, and an old `url:` is ignored).
SUPPORTED_VERSIONS = ((0, 7, 0), (0, 8, 0))  # [lowest, first unsupported)
DEFAULT_IMAGE = "docker.io/llamastack/distribution-starter:0.7.3"
STORAGE_MOUNT = "/opt/app-root/src/.llama"
CONFIG_KEY = "config.yaml"
CONFIG_MOUNT = "/etc/llama-stack"
CONFIG_DIGEST_ENV = "LLAMA_ROLLOUT_CONFIG_SHA256"
# What tells the operators apart, read from their CRDs (llama-stack-k8s-operator branches
# rhoai-2.22 .. rhoai-3.4, upstream v0.3.0 .. v0.9.0): those that mount `config.yaml` and start
# `llama stack run` (upstream >= v0.6.0, RHOAI >= 3.3) have both of these fields; the older
# ones start `python3 -m llama_stack.core.server.server /etc/llama-stack/run.yaml`, which
# Llama Stack 0.7 no longer has. spec.network alone is in RHOAI 2.25 too.
CONFIG_YAML_OPERATOR_FIELDS = ("spec.network", "spec.server.workers")
ALLOWED_FROM_FIELD = "spec.network.allowedFrom.namespaces"
# Lightspeed's app server runs here (the Lightspeed operator's namespace); it calls Llama Stack
# when OLSConfig's provider points at the stack, so the stack's NetworkPolicy must admit it.
LIGHTSPEED_NAMESPACE = "openshift-lightspeed"
MAX_TOKENS = 10_485_760
# Llama Stack's identity towards a vLLM with auth on (manifests/pipeline-runner/
# llama-stack-model-client.yaml): a service account that may `get` InferenceServices, and the
# long-lived token Secret the token controller fills for it.
MODEL_CLIENT_ACCOUNT = "llama-stack-model-client"
MODEL_CLIENT_TOKEN_SECRET = f"{MODEL_CLIENT_ACCOUNT}-token"
# Lightspeed's, by default (manifests/lightspeed-publisher/model-client.yaml).
LIGHTSPEED_MODEL_CLIENT_ACCOUNT = "lightspeed-model-client"
MAX_REPLICAS = 100
# The upstream images are tagged with the Llama Stack release they run: one outside
# SUPPORTED_VERSIONS would be refused by the step at run time, after the model is served.
_UPSTREAM_RELEASE = re.compile(
    r"^(?:docker\.io/)?llamastack/distribution-[a-z0-9-]+:v?(\d{1,4})\.(\d{1,4})\.(\d{1,4})$",
    re.ASCII,
)
# The operator's distribution names (starter, remote-vllm, rh-dev, ...).
_DISTRIBUTION_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


# The names of a stack's objects, after the stack's: the operator's and the fallback's alike.
def config_map_name(name: str) -> str:
    return f"{name}-config"


def service_name(name: str) -> str:
    return f"{name}-service"


def volume_claim_name(name: str) -> str:
    return f"{name}-pvc"


def network_policy_name(name: str) -> str:
    return f"{name}-network-policy"


class StackSettings(BaseModel):
    """Everything that decides the Llama Stack config and its Kubernetes objects."""

    # The messages quote values, cut and redacted; the chained exception shows none.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    name: DnsLabel = "llama-stack"
    namespace: DnsLabel
    vllm_url: str = Field(description="vLLM's OpenAI-compatible base URL, ending in /v1")
    # True, False, or a CA file in the pod (KServe's auth proxy has a service-CA certificate).
    vllm_tls_verify: bool | str = True
    vllm_max_tokens: int = Field(default=4096, ge=1, le=MAX_TOKENS)
    vllm_token_secret: str = Field(default="", description="Secret with key `token`, for vLLM auth")
    distribution_image: str = DEFAULT_IMAGE
    distribution_name: str = ""
    replicas: int = 1
    cpu_request: Quantity = "500m"
    memory_request: Quantity = "1Gi"
    cpu_limit: Quantity = "2"
    memory_limit: Quantity = "4Gi"
    storage_size: Quantity = "5Gi"
    env: dict[str, str] = Field(default_factory=dict)
    # Namespaces the stack's NetworkPolicy admits, where its clients run (the pipeline's, the
    # workbench's, Lightspeed's when it calls the stack): the operator's
    # spec.network.allowedFrom, or the fallback's own policy.
    allowed_namespaces: tuple[DnsLabel, ...] = ()
    # Who may call the stack once the network lets them: the token check (stack.access).
    clients: StackClients
    # An OTLP/HTTP collector the stack exports its traces and metrics to (stack.traces).
    otlp_endpoint: str = ""

    @field_validator("vllm_url")
    @classmethod
    def _openai_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or not value.rstrip("/").endswith("/v1"):
            raise ValueError(f"vllm_url must be http(s)://HOST[:PORT]/v1, got {quoted(value)}")
        return value.rstrip("/")

    @field_validator("otlp_endpoint")
    @classmethod
    def _collector(cls, value: str) -> str:
        if problem := otlp_endpoint_problem(value):
            raise ValueError(problem)
        return value

    @field_validator("replicas")
    @classmethod
    def _serves(cls, value: int) -> int:
        if not 1 <= value <= MAX_REPLICAS:
            raise ValueError(
                f"{value} replicas: give 1 to {MAX_REPLICAS} (with none, the stack never becomes "
                "ready and the step waits out its timeout)"
            )
        return value

    @field_validator("distribution_image")
    @classmethod
    def _pullable_and_supported(cls, value: str) -> str:
        if problem := image_reference_problem(value):
            raise ValueError(problem)
        if release := _UPSTREAM_RELEASE.fullmatch(value):
            version = tuple(int(part) for part in release.groups())
            low, high = SUPPORTED_VERSIONS
            if not low <= version < high:
                supported = f">= {'.'.join(map(str, low))}, < {'.'.join(map(str, high))}"
                raise ValueError(
                    f"{quoted(value)} runs Llama Stack {'.'.join(map(str, version))}, and this "
                    f"project writes the config format of {supported}: give an image of a "
                    f"supported release, e.g. {DEFAULT_IMAGE}"
                )
        return value

    @field_validator("distribution_name")
    @classmethod
    def _operator_distribution(cls, value: str) -> str:
        if value and not _DISTRIBUTION_NAME.fullmatch(value):
            raise ValueError(
                f"{quoted(value)} is not a distribution name (lower case letters, digits and "
                "'-', at most 63): give one the Llama Stack operator knows, e.g. starter or rh-dev"
            )
        return value

    @model_validator(mode="after")
    def _one_distribution(self) -> StackSettings:
        if self.distribution_name and self.distribution_image != DEFAULT_IMAGE:
            raise ValueError(
                "give distribution_name or distribution_image (llama_stack_distribution or "
                "llama_stack_image), not both"
            )
        return self

    @property
    def config_map_name(self) -> str:
        return config_map_name(self.name)

    def container_env(self, config_digest: str) -> list[dict[str, Any]]:
        """The server's environment. The config's digest is in it so that a changed config
        changes the pod template, and the pods roll: a mounted ConfigMap alone would not."""
        env: list[dict[str, Any]] = [
            {"name": "SQLITE_STORE_DIR", "value": f"{STORAGE_MOUNT}/store"},
            {"name": CONFIG_DIGEST_ENV, "value": config_digest},
        ]
        if self.vllm_token_secret:
            env.append(
                {
                    "name": "VLLM_API_TOKEN",
                    "valueFrom": {"secretKeyRef": {"name": self.vllm_token_secret, "key": "token"}},
                }
            )
        exported = otel_environment(self.otlp_endpoint, self.name) if self.otlp_endpoint else {}
        env += [{"name": k, "value": v} for k, v in sorted((exported | self.env).items())]
        return env

    def command(self, server: list[str]) -> list[str]:
        """``server``, the command that starts the stack, under ``opentelemetry-instrument``
        when the stack exports its traces."""
        return [INSTRUMENT, *server] if self.otlp_endpoint else server

    def resources(self) -> dict[str, dict[str, str]]:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


def vllm_access(auth: bool, token_secret: str) -> dict[str, Any]:
    """How the stack reaches vLLM: with ``auth`` on, with the token in ``token_secret`` and
    trusting the pod's service CA, which signs the certificate of KServe's auth proxy (its
    ``https`` port, 8443, is then the Service's only one); with it off, plain HTTP."""
    if not auth:
        return {"vllm_token_secret": "", "vllm_tls_verify": True}
    return {"vllm_token_secret": token_secret, "vllm_tls_verify": POD_SERVICE_CA}


def settings_from(**values: Any) -> StackSettings:
    """Build settings from parameters; bad values raise one ConfigurationError naming them all."""
    try:
        return StackSettings(**values)
    except ValidationError as exc:
        raise invalid_settings("Llama Stack settings", exc) from exc
