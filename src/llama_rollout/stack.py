"""Llama Stack: its 0.7.x ``config.yaml``, and the objects that run it on OpenShift AI.

The config wires one remote vLLM (``remote::vllm``, ``base_url`` ending in ``/v1``) and the
Responses API, whose MCP tool support is how the evaluation reaches the cluster-health MCP
server. Secrets stay out of it: the vLLM token is read from the environment
(``${env.VLLM_API_TOKEN:=}``), which the pod fills from a Secret.

On the cluster the stack is a LlamaStackDistribution when the operator's CRD is served, with
the config in a ConfigMap under ``config.yaml``; otherwise a Deployment, ConfigMap, Service and
PersistentVolumeClaim running the same image.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llama_rollout.errors import RolloutError
from llama_rollout.k8s_types import DnsLabel, Quantity, is_pinned

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


class StackVersionError(RolloutError):
    """The Llama Stack server's version does not take the config this project writes."""


class StackSettings(BaseModel):
    """Everything that decides the Llama Stack config and its Kubernetes objects."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: DnsLabel = "llama-stack"
    namespace: DnsLabel
    vllm_url: str = Field(description="vLLM's OpenAI-compatible base URL, ending in /v1")
    vllm_tls_verify: bool = True
    vllm_max_tokens: int = Field(default=4096, ge=1)
    vllm_token_secret: str = Field(default="", description="Secret with key `token`, for vLLM auth")
    distribution_image: str = DEFAULT_IMAGE
    distribution_name: str = ""
    replicas: int = Field(default=1, ge=0)
    cpu_request: Quantity = "500m"
    memory_request: Quantity = "1Gi"
    cpu_limit: Quantity = "2"
    memory_limit: Quantity = "4Gi"
    storage_size: Quantity = "5Gi"
    env: dict[str, str] = Field(default_factory=dict)
    # Namespaces the operator's NetworkPolicy must admit besides its own defaults (the
    # pipeline's, when the stack runs elsewhere); needs an operator with spec.network.
    allowed_namespaces: tuple[DnsLabel, ...] = ()

    @field_validator("vllm_url")
    @classmethod
    def _openai_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or not value.rstrip("/").endswith("/v1"):
            raise ValueError(f"vllm_url must be http(s)://HOST[:PORT]/v1, got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_distribution(self) -> StackSettings:
        if self.distribution_name and self.distribution_image != DEFAULT_IMAGE:
            raise ValueError("give distribution_name or distribution_image, not both")
        if not self.distribution_name and not is_pinned(self.distribution_image):
            raise ValueError(f"pin the image to a tag or digest, not {self.distribution_image!r}")
        return self

    @property
    def config_map_name(self) -> str:
        return f"{self.name}-config"

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
        env += [{"name": k, "value": v} for k, v in sorted(self.env.items())]
        return env

    def resources(self) -> dict[str, dict[str, str]]:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


def settings_from(**values: Any) -> StackSettings:
    """Build settings from parameters; bad values raise one ConfigurationError naming them all."""
    from pydantic import ValidationError

    from llama_rollout.errors import invalid_settings

    try:
        return StackSettings(**values)
    except ValidationError as exc:
        raise invalid_settings("Llama Stack settings", exc) from exc


def stack_config(
    *,
    distro_name: str,
    vllm_url: str,
    storage_dir: str,
    max_tokens: int = 4096,
    tls_verify: bool = True,
    host: str = "0.0.0.0",
) -> dict[str, Any]:
    """The Llama Stack 0.7.x ``config.yaml`` for one remote vLLM and the Responses API.

    Args:
        distro_name: the distribution's name (shown by the server).
        vllm_url: vLLM's base URL, ending in ``/v1``.
        storage_dir: where the sqlite stores and files live (the distribution's volume);
            ``SQLITE_STORE_DIR`` overrides the stores' folder.
        max_tokens: default completion limit.
        tls_verify: verify vLLM's certificate.
        host: the bind address.
    """
    store = f"${{env.SQLITE_STORE_DIR:={storage_dir}}}"
    return {
        "version": 2,
        "distro_name": distro_name,
        # vector_io and tool_runtime must be listed even without providers (FACTS.md section 4).
        "apis": ["inference", "responses", "tool_runtime", "vector_io", "files"],
        "providers": {
            "inference": [
                {
                    "provider_id": PROVIDER_ID,
                    "provider_type": "remote::vllm",
                    "config": {
                        "base_url": vllm_url,
                        "max_tokens": max_tokens,
                        "api_token": "${env.VLLM_API_TOKEN:=fake}",
                        "network": {"tls": {"verify": tls_verify}},
                    },
                }
            ],
            "files": [
                {
                    "provider_id": "localfs",
                    "provider_type": "inline::localfs",
                    "config": {
                        "storage_dir": f"{storage_dir}/files",
                        "metadata_store": {
                            "table_name": "files_metadata",
                            "backend": "sql_default",
                        },
                    },
                }
            ],
            "responses": [
                {
                    "provider_id": "builtin",
                    "provider_type": "inline::builtin",
                    "config": {
                        "persistence": {
                            "agent_state": {"namespace": "agents", "backend": "kv_default"},
                            "responses": {"table_name": "responses", "backend": "sql_default"},
                        }
                    },
                }
            ],
        },
        "storage": {
            "backends": {
                "kv_default": {"type": "kv_sqlite", "db_path": f"{store}/kvstore.db"},
                "sql_default": {"type": "sql_sqlite", "db_path": f"{store}/sql_store.db"},
            },
            "stores": {
                "metadata": {"namespace": "registry", "backend": "kv_default"},
                "inference": {"table_name": "inference_store", "backend": "sql_default"},
                "conversations": {"table_name": "openai_conversations", "backend": "sql_default"},
                "prompts": {"namespace": "prompts", "backend": "kv_default"},
            },
        },
        "server": {"host": host, "port": PORT},
    }


def model_id(served_model_name: str) -> str:
    """Llama Stack's id for a vLLM model: ``<provider_id>/<served-model-name>``."""
    return f"{PROVIDER_ID}/{served_model_name}"


def parse_version(text: str) -> tuple[int, int, int]:
    match = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if not match:
        raise StackVersionError(f"cannot read the Llama Stack version {text!r}")
    return int(match[1]), int(match[2]), int(match[3] or 0)


def check_version(text: str) -> tuple[int, int, int]:
    """Refuse a server whose version does not accept the config format written here."""
    version = parse_version(text)
    low, high = SUPPORTED_VERSIONS
    if not low <= version < high:
        supported = f">= {'.'.join(map(str, low))}, < {'.'.join(map(str, high))}"
        raise StackVersionError(
            f"Llama Stack {text} is not supported: this project writes the config format of {supported}",
            hint=f"deploy a Llama Stack image or distribution {supported} (for example {DEFAULT_IMAGE})",
        )
    return version


# -- Kubernetes objects ----------------------------------------------------------------------


def _labels(settings: StackSettings) -> dict[str, str]:
    return {"app.kubernetes.io/name": "llama-stack", "app.kubernetes.io/instance": settings.name,
            "app.kubernetes.io/part-of": "llama-rollout"}  # fmt: skip


def config_map(settings: StackSettings) -> dict[str, Any]:
    config = stack_config(
        distro_name=settings.name,
        vllm_url=settings.vllm_url,
        storage_dir=STORAGE_MOUNT,
        max_tokens=settings.vllm_max_tokens,
        tls_verify=settings.vllm_tls_verify,
    )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": settings.config_map_name,
            "namespace": settings.namespace,
            "labels": _labels(settings),
        },
        "data": {CONFIG_KEY: yaml.safe_dump(config, sort_keys=False)},
    }


def config_digest(config: dict[str, Any]) -> str:
    """The sha256 of a config ConfigMap's ``config.yaml``."""
    return hashlib.sha256(config["data"][CONFIG_KEY].encode()).hexdigest()


def llama_stack_distribution(settings: StackSettings, digest: str) -> dict[str, Any]:
    """The operator's LlamaStackDistribution, using the ConfigMap's ``config.yaml``."""
    distribution = (
        {"name": settings.distribution_name}
        if settings.distribution_name
        else {"image": settings.distribution_image}
    )
    network = (
        {"network": {"allowedFrom": {"namespaces": list(settings.allowed_namespaces)}}}
        if settings.allowed_namespaces
        else {}
    )
    return {
        "apiVersion": LLSD_API,
        "kind": "LlamaStackDistribution",
        "metadata": {
            "name": settings.name,
            "namespace": settings.namespace,
            "labels": _labels(settings),
        },
        "spec": {
            "replicas": settings.replicas,
            "server": {
                "distribution": distribution,
                "containerSpec": {
                    "name": "llama-stack",
                    "port": PORT,
                    "env": settings.container_env(digest),
                    "resources": settings.resources(),
                },
                "userConfig": {"configMapName": settings.config_map_name},
                "storage": {"size": settings.storage_size, "mountPath": STORAGE_MOUNT},
            },
            **network,
        },
    }


def fallback_objects(settings: StackSettings, digest: str) -> list[dict[str, Any]]:
    """Without the operator: PVC, Deployment and Service running the same image and config."""
    if settings.distribution_name:
        raise RolloutError(
            f"distribution_name {settings.distribution_name!r} needs the Llama Stack operator",
            hint="install the operator, or give distribution_image instead",
        )
    labels = _labels(settings)
    meta = {"namespace": settings.namespace, "labels": labels}
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": f"{settings.name}-pvc", **meta},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": settings.storage_size}},
        },
    }
    probe = {"httpGet": {"path": "/v1/health", "port": PORT}, "periodSeconds": 10}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": settings.name, **meta},
        "spec": {
            "replicas": settings.replicas,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "Recreate"},  # one pod at a time on a ReadWriteOnce volume
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "llama-stack",
                            "image": settings.distribution_image,
                            # command, not args: args would go to the image's own entrypoint
                            "command": [
                                "llama",
                                "stack",
                                "run",
                                f"{CONFIG_MOUNT}/{CONFIG_KEY}",
                                "--port",
                                str(PORT),
                            ],
                            "ports": [{"name": "http", "containerPort": PORT}],
                            "env": settings.container_env(digest),
                            "resources": settings.resources(),
                            "startupProbe": {**probe, "failureThreshold": 60},
                            "readinessProbe": probe,
                            "volumeMounts": [
                                {"name": "config", "mountPath": CONFIG_MOUNT, "readOnly": True},
                                {"name": "storage", "mountPath": STORAGE_MOUNT},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "config", "configMap": {"name": settings.config_map_name}},
                        {
                            "name": "storage",
                            "persistentVolumeClaim": {"claimName": f"{settings.name}-pvc"},
                        },
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"{settings.name}-service", **meta},
        "spec": {"selector": labels, "ports": [{"name": "http", "port": PORT, "targetPort": PORT}]},
    }
    return [pvc, deployment, service]


def stack_objects(settings: StackSettings, *, operator: bool) -> list[dict[str, Any]]:
    """Every object of the Llama Stack stage, in apply order."""
    config = config_map(settings)
    if operator:
        return [config, llama_stack_distribution(settings, config_digest(config))]
    return [config, *fallback_objects(settings, config_digest(config))]


def service_url(settings: StackSettings) -> str:
    """The in-cluster URL of the stack (the operator's Service is ``<name>-service``, as ours)."""
    return f"http://{settings.name}-service.{settings.namespace}.svc.cluster.local:{PORT}"
