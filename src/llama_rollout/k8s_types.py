"""Kubernetes value types for settings: names, quantities, label values, pinned images.

Used as pydantic field types, so a bad value is refused with the rule it broke before any
object is built or applied.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator

from llama_rollout.errors import quoted

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# KServe names the predictor's Service <name>-predictor, which must itself be a 63-character
# label: an InferenceService name has 53 characters at most.
DEPLOYMENT_NAME_LENGTH = 63 - len("-predictor")
# Each version is served by its own InferenceService, <model>-<revision[:7]>, so that a new
# version comes up beside the old one (blue/green): a model name leaves room for the suffix.
REVISION_SUFFIX = 7
MODEL_NAME_LENGTH = DEPLOYMENT_NAME_LENGTH - 1 - REVISION_SUFFIX
# k8s.io/apimachinery resource.Quantity
_QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|[eE][+-]?\d+)?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def object_name_problem(value: str) -> str | None:
    """Why ``value`` cannot name a Secret, ConfigMap or most objects (a DNS-1123 subdomain)."""
    if len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        return (
            f"{value[:80]!r} is not a DNS-1123 subdomain (lower case letters, digits, '-' and "
            "'.', at most 253)"
        )
    return None


def dns_label_problem(value: str) -> str | None:
    """Why ``value`` cannot name a namespace, Service or Deployment (a DNS-1123 label)."""
    if len(value) > 63 or not _DNS_LABEL.match(value):
        return f"{value[:80]!r} is not a DNS-1123 label (lower case letters, digits and '-', at most 63)"
    return None


def _dns_label(value: str) -> str:
    if problem := dns_label_problem(value):
        raise ValueError(problem)
    return value


def model_name_problem(value: str, limit: int = MODEL_NAME_LENGTH) -> str | None:
    """Why ``value`` cannot name a model everywhere it goes, or None when it can.

    A model's name is its InferenceService's name (a DNS-1035 label), its served model name,
    its folder in S3 and on disk, and its RegisteredModel's name.
    """
    if len(value) > limit:
        return f"{value!r} is longer than {limit} characters"
    if not _DNS_1035.match(value):
        return (
            f"{value!r} is not a DNS-1035 label: lower case letters, digits and '-', starting "
            "with a letter and ending with a letter or digit"
        )
    return None


def model_name_from(text: str) -> str:
    """A valid model name made from any text: ``Llama-3.2-3B`` -> ``llama-3-2-3b``,
    ``3B-Instruct`` -> ``model-3b-instruct``."""
    name = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if not name[:1].isalpha():
        name = f"model-{name}".rstrip("-")
    return name[:MODEL_NAME_LENGTH].rstrip("-")


def versioned_name(base: str, revision: str) -> str:
    """The name of a version's own objects: ``<base>-<revision[:7]>`` (a revision is hex)."""
    return f"{base}-{revision[:REVISION_SUFFIX].lower()}"


def _deployment_name(value: str) -> str:
    if problem := model_name_problem(value, DEPLOYMENT_NAME_LENGTH):
        raise ValueError(f"{problem}; for example {model_name_from(value)!r}")
    return value


def _model_name(value: str) -> str:
    if problem := model_name_problem(value):
        raise ValueError(f"{problem}; for example {model_name_from(value)!r}")
    return value


_SUFFIX_SCALE = {
    **{s: Decimal(1024) ** (i + 1) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
    **{s: Decimal(1000) ** (i + 1) for i, s in enumerate(("k", "M", "G", "T", "P", "E"))},
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
}  # fmt: skip
# The largest size a volume or a memory limit here may ask for: more is a typo, not a plan.
MAX_SIZE = 1024**5  # 1Pi
_SIZE_DIGITS = 30  # a quantity's number, at most: Kubernetes reads 64-bit values


def size_in_bytes(value: str) -> Decimal:
    """A Kubernetes quantity (``2Gi``, ``500M``, ``1e9``) in bytes; ValueError if it is none."""
    if len(value) > _SIZE_DIGITS or not _QUANTITY.match(value):
        raise ValueError(
            f"{quoted(value)} is not a Kubernetes resource quantity (e.g. 500m, 2, 16Gi)"
        )
    number, suffix = re.fullmatch(r"([+-]?[\d.]+)(.*)", value).groups()  # type: ignore[union-attr]
    if suffix in _SUFFIX_SCALE:
        return Decimal(number) * _SUFFIX_SCALE[suffix]
    return Decimal(number) * Decimal(10) ** int(suffix[1:])  # an exponent: 1e9


def _quantity(value: str) -> str:
    size = size_in_bytes(value)
    if not 1 <= size <= MAX_SIZE:
        raise ValueError(f"{quoted(value)} is not a size from 1 byte to 1Pi")
    return value


def _label_value(value: str) -> str:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise ValueError(f"{value!r} cannot be a label value")
    return value


def is_pinned(image: str) -> bool:
    """True for an image with a tag other than ``latest``, or a digest."""
    if "@" in image:
        return True
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    return bool(tag) and tag != "latest"


def _pinned_image(value: str) -> str:
    if not is_pinned(value):
        raise ValueError(f"pin the image to a tag or digest, not {value!r}")
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
ModelName = Annotated[str, AfterValidator(_model_name)]
DeploymentName = Annotated[str, AfterValidator(_deployment_name)]
Quantity = Annotated[str, AfterValidator(_quantity)]
LabelValue = Annotated[str, AfterValidator(_label_value)]
PinnedImage = Annotated[str, AfterValidator(_pinned_image)]
