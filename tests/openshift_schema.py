"""Strict schemas for the two OpenShift API objects in manifests/: BuildConfig and ImageStream.

They are aggregated APIs, not CRDs, so there is no CRD file to copy and kubernetes-validate
does not know them. These schemas list exactly the JSON fields of the Go types in
openshift/api (``build/v1/types.go``: BuildConfigSpec, CommonSpec, BuildSource,
BinaryBuildSource, BuildStrategy, DockerBuildStrategy, BuildOutput, BuildTriggerPolicy;
``image/v1/types.go``: ImageStreamSpec, ImageLookupPolicy, TagReference; commit 2a3d7391,
2026-08-22) with their enums, and refuse any other field, as the API server does.
Nested objects that the manifests do not use (git, images, resources, ...) are typed only as
objects.
"""

from __future__ import annotations

from typing import Any

import jsonschema

_OBJECT = {"type": "object"}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_NAME = {
    "type": "string",
    "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    "maxLength": 253,
}


def _strict(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


_METADATA = _strict(
    {"name": _NAME, "namespace": _NAME, "labels": _STRING_MAP, "annotations": _STRING_MAP},
    ("name",),
)
_OBJECT_REFERENCE = _strict(
    {
        k: {"type": "string"}
        for k in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
    }
)
_BUILD_SOURCE = _strict(
    {
        "type": {"enum": ["Git", "Dockerfile", "Binary", "Image", "None"]},
        "binary": _strict({"asFile": {"type": "string"}}),
        "dockerfile": {"type": "string"},
        "git": _OBJECT,
        "images": {"type": "array"},
        "contextDir": {"type": "string"},
        "sourceSecret": _OBJECT,
        "secrets": {"type": "array"},
        "configMaps": {"type": "array"},
    }
)
_DOCKER_STRATEGY = _strict(
    {
        "from": _OBJECT_REFERENCE,
        "pullSecret": _OBJECT,
        "noCache": {"type": "boolean"},
        "env": {"type": "array"},
        "forcePull": {"type": "boolean"},
        "dockerfilePath": {"type": "string"},
        "buildArgs": {"type": "array"},
        "imageOptimizationPolicy": {"enum": ["None", "SkipLayers", "SkipLayersAndWarn"]},
        "volumes": {"type": "array"},
    }
)
_STRATEGY = _strict(
    {
        "type": {"enum": ["Docker", "Source", "Custom", "JenkinsPipeline"]},
        "dockerStrategy": _DOCKER_STRATEGY,
        "sourceStrategy": _OBJECT,
        "customStrategy": _OBJECT,
        "jenkinsPipelineStrategy": _OBJECT,
    }
)
_TRIGGER = _strict(
    {
        "type": {
            "enum": ["GitHub", "Generic", "ImageChange", "ConfigChange", "GitLab", "Bitbucket"]
        },
        **{k: _OBJECT for k in ("github", "generic", "imageChange", "gitlab", "bitbucket")},
    },
    ("type",),
)
BUILD_CONFIG = _strict(
    {
        "apiVersion": {"const": "build.openshift.io/v1"},
        "kind": {"const": "BuildConfig"},
        "metadata": _METADATA,
        "spec": _strict(
            {
                "triggers": {"type": "array", "items": _TRIGGER},
                "runPolicy": {"enum": ["Parallel", "Serial", "SerialLatestOnly"]},
                "serviceAccount": {"type": "string"},
                "source": _BUILD_SOURCE,
                "revision": _OBJECT,
                "strategy": _STRATEGY,
                "output": _strict(
                    {
                        "to": _OBJECT_REFERENCE,
                        "pushSecret": _OBJECT,
                        "imageLabels": {"type": "array"},
                    }
                ),
                "resources": _OBJECT,
                "postCommit": _OBJECT,
                "completionDeadlineSeconds": {"type": "integer"},
                "nodeSelector": _STRING_MAP,
                "mountTrustedCA": {"type": "boolean"},
                "successfulBuildsHistoryLimit": {"type": "integer"},
                "failedBuildsHistoryLimit": {"type": "integer"},
            },
            ("strategy",),
        ),
    },
    ("apiVersion", "kind", "metadata", "spec"),
)
IMAGE_STREAM = _strict(
    {
        "apiVersion": {"const": "image.openshift.io/v1"},
        "kind": {"const": "ImageStream"},
        "metadata": _METADATA,
        "spec": _strict(
            {
                "lookupPolicy": _strict({"local": {"type": "boolean"}}, ("local",)),
                "dockerImageRepository": {"type": "string"},
                "tags": {
                    "type": "array",
                    "items": _strict(
                        {
                            "name": {"type": "string"},
                            "annotations": _STRING_MAP,
                            "from": _OBJECT_REFERENCE,
                            "reference": {"type": "boolean"},
                            "generation": {"type": "integer"},
                            "importPolicy": _OBJECT,
                            "referencePolicy": _OBJECT,
                        },
                        ("name",),
                    ),
                },
            }
        ),
    },
    ("apiVersion", "kind", "metadata"),
)
SCHEMAS = {
    ("build.openshift.io/v1", "BuildConfig"): BUILD_CONFIG,
    ("image.openshift.io/v1", "ImageStream"): IMAGE_STREAM,
}


def validate(obj: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError when ``obj`` is not a valid object of its kind."""
    jsonschema.Draft7Validator(SCHEMAS[(obj["apiVersion"], obj["kind"])]).validate(obj)
