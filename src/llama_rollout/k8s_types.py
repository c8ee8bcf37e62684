"""Kubernetes value types for settings: names, quantities, labels, image references.

Used as pydantic field types, so a bad value is refused with the rule it broke before any
object is built or applied.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BeforeValidator

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
_WHY_LENGTH = {
    DEPLOYMENT_NAME_LENGTH: "the most an InferenceService name can have: KServe names its "
    "Service NAME-predictor, a label of at most 63",
    MODEL_NAME_LENGTH: "the most a model name can have: each version is served by an "
    f"InferenceService named MODEL-REVISION[:{REVISION_SUFFIX}], of at most "
    f"{DEPLOYMENT_NAME_LENGTH}",
}
# k8s.io/apimachinery resource.Quantity
_QUANTITY = re.compile(
    r"^[+-]?(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|[eE][+-]?\d+)?$", re.ASCII
)
# k8s.io/apimachinery validation: a label value, and the name part of a qualified name.
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$", re.ASCII)
_QUALIFIED_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$", re.ASCII)
LABEL_RULE = (
    "at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
)


_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class VersionedName(str):
    """``<base>-<revision[:7]>``, the name of a version's own objects, which remembers ``base``:
    a name too long or malformed is then reported as the name the user gave, with its own
    limit, not with a revision suffix the user never typed."""

    base: str

    def __new__(cls, base: str, revision: str) -> VersionedName:
        name = super().__new__(cls, f"{base}-{revision[:REVISION_SUFFIX].lower()}")
        name.base = base
        return name

    def __reduce__(self) -> tuple[Any, ...]:
        return str, (str(self),)


yaml.SafeDumper.add_representer(VersionedName, yaml.SafeDumper.represent_str)


def object_name_problem(value: str) -> str | None:
    """Why ``value`` cannot name a Secret, ConfigMap or most objects (a DNS-1123 subdomain)."""
    if len(value) > 253 or not _DNS_SUBDOMAIN.fullmatch(value):
        return (
            f"{quoted(value)} is not a DNS-1123 subdomain (lower case letters, digits, '-' and "
            "'.', at most 253)"
        )
    return None


def dns_label_problem(value: str, limit: int = 63) -> str | None:
    """Why ``value`` cannot name a namespace, Service or Deployment (a DNS-1123 label)."""
    if len(value) > limit or not _DNS_LABEL.fullmatch(value):
        return (
            f"{quoted(value)} is not a DNS-1123 label (lower case letters, digits and '-', at "
            f"most {limit})"
        )
    return None


def _with_length(value: str) -> str:
    """``value`` quoted, with its length (``quoted`` gives it only when it cuts the value)."""
    shown = quoted(value)
    return shown if len(value) > 60 else f"{shown} ({len(value)} characters)"


def _versioned_problem(
    value: str, problem: Callable[[str, int], str | None], limit: int, *, explain: bool = False
) -> str | None:
    """``problem`` of a name, or of the base of a :class:`VersionedName` with the base's own
    limit (``limit`` less the revision suffix), said ``explain``-ed when the base is too long."""
    if not isinstance(value, VersionedName):
        return problem(value, limit)
    base_limit = limit - 1 - REVISION_SUFFIX
    found = problem(value.base, base_limit)
    if found and explain and len(value.base) > base_limit:
        found = (
            f"{_with_length(value.base)} is longer than {base_limit} characters, the most this "
            f"name can have: each version's objects are named NAME-REVISION[:{REVISION_SUFFIX}], "
            f"a DNS-1123 label of at most {limit}"
        )
    return found or problem(value, limit)


def _dns_label(value: Any) -> Any:
    if isinstance(value, str) and (
        problem := _versioned_problem(value, dns_label_problem, 63, explain=True)
    ):
        raise ValueError(problem)
    return value


def model_name_problem(value: str, limit: int = MODEL_NAME_LENGTH) -> str | None:
    """Why ``value`` cannot name a model everywhere it goes, or None when it can.

    A model's name is its InferenceService's name (a DNS-1035 label), its served model name,
    its folder in S3 and on disk, and its RegisteredModel's name.
    """
    if len(value) > limit:
        why = _WHY_LENGTH.get(limit, "")
        return f"{_with_length(value)} is longer than {limit} characters" + (
            f", {why}" if why else ""
        )
    if not _DNS_1035.fullmatch(value):
        return (
            f"{quoted(value)} is not a DNS-1035 label: lower case letters, digits and '-', "
            "starting with a letter and ending with a letter or digit"
        )
    return None


def model_name_from(text: str, limit: int = MODEL_NAME_LENGTH) -> str:
    """A valid model name made from any text: ``Llama-3.2-3B`` -> ``llama-3-2-3b``,
    ``3B-Instruct`` -> ``model-3b-instruct``."""
    name = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if not name[:1].isalpha():
        name = f"model-{name}".rstrip("-")
    return name[:limit].rstrip("-")


def versioned_name(base: str, revision: str) -> VersionedName:
    """The name of a version's own objects: ``<base>-<revision[:7]>`` (a revision is hex)."""
    return VersionedName(base, revision)


def _deployment_name(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if problem := _versioned_problem(value, model_name_problem, DEPLOYMENT_NAME_LENGTH):
        base = value.base if isinstance(value, VersionedName) else value
        limit = DEPLOYMENT_NAME_LENGTH - (len(value) - len(base))
        raise ValueError(f"{problem}; for example {model_name_from(base, limit)!r}")
    return value


def _model_name(value: str) -> str:
    if problem := model_name_problem(value):
        raise ValueError(f"{problem}; for example {model_name_from(value)!r}")
    return value


_SUFFIX_SCALE = {
    **{s: Decimal(1024) ** (i + 1) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
    **{s: Decimal(1000) ** (i + 1) for i, s in enumerate(("k", "M", "G", "T", "P", "E"))},
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
}
# The largest size a volume or a memory limit here may ask for: more is a typo, not a plan.
MAX_SIZE = 1024**5  # 1Pi
_SIZE_DIGITS = 30  # a quantity's number, at most: Kubernetes reads 64-bit values


def size_in_bytes(value: str) -> Decimal:
    """A Kubernetes quantity (``2Gi``, ``500M``, ``1e9``) in bytes; ValueError if it is none."""
    if len(value) > _SIZE_DIGITS or not _QUANTITY.fullmatch(value):
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


def label_value_problem(value: str) -> str | None:
    """Why ``value`` cannot be a label's value (empty is one), or None."""
    if len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
        return f"{quoted(value)} is not a label value ({LABEL_RULE}, or empty)"
    return None


def label_key_problem(key: str) -> str | None:
    """Why ``key`` cannot be a label's key (a qualified name: an optional DNS-1123 subdomain and
    '/', then a name of at most 63 characters), or None."""
    prefix, slash, name = key.rpartition("/")
    if (
        not name
        or len(name) > 63
        or not _QUALIFIED_NAME.fullmatch(name)
        or (slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)))
    ):
        shown = quoted(key) if key else "the empty key"
        return (
            f"{shown} is not a label key (an optional DNS subdomain and '/', e.g. "
            f"nvidia.com/, then a name of {LABEL_RULE})"
        )
    return None


def _node_selector(value: Any) -> Any:
    # Checked whole, before pydantic's dict[str, str]: its error would carry the key in its path.
    if not isinstance(value, dict):
        return value
    for key, label in value.items():
        if not isinstance(key, str) or not isinstance(label, str):
            raise ValueError(
                f"{quoted(key, 40)}: {quoted(label, 40)} is not text: give label keys and values "
                'as strings, e.g. {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}'
            )
        if problem := label_key_problem(key):
            raise ValueError(f"{problem}: give a node label's key")
        if problem := label_value_problem(label):
            raise ValueError(f"the value of {quoted(key, 40)}: {problem}")
    return value


def _label_value(value: str) -> str:
    if problem := label_value_problem(value):
        raise ValueError(problem)
    return value


# distribution/reference (the grammar of container image references):
#   reference := name [ ":" tag ] [ "@" digest ],  name := [domain "/"] path-component ["/" ...]
_PATH_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(
    rf"^(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$"
)
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
NAME_TOTAL_LENGTH = 255  # distribution/reference NameTotalLengthMax
_REFERENCE_LENGTH = NAME_TOTAL_LENGTH + 1 + 128 + 1 + len("sha512:") + 128
IMAGE_FORMAT = (
    "give REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST, e.g. quay.io/org/image:1.0"
)
CREDENTIALS_HINT = (
    "registry credentials go in a pull secret linked to the service account that pulls the "
    "image (oc create secret docker-registry NAME ..., then oc secrets link SA NAME --for=pull)"
)


def _has_userinfo(rest: str) -> bool:
    """``user:password@`` before the path: a digest's ``@`` comes after it, and only once."""
    return rest.count("@") > 1 or "/" in rest.partition("@")[2]


def image_reference_problem(ref: str, *, pinned: bool = True) -> str | None:
    """Why ``ref`` is not a container image reference a cluster can pull, or None.

    The grammar of distribution/reference: ``[domain[:port]/]path[:tag][@digest]`` with lower
    case path components, a tag of at most 128 characters, a digest ``sha256:<64 hex>``. No
    scheme and no ``user:password@`` (those are refused without quoting the value). With
    ``pinned``, a reference must also have a tag other than ``latest``, or a digest.
    The answer is one sentence that says what to do, for the caller to prefix with the
    setting's or the flag's name.
    """
    scheme = _SCHEME.match(ref)
    rest = ref[scheme.end() :] if scheme else ref
    if "@" in rest and _has_userinfo(rest):
        return f"an image reference carries no credentials (user:password@): {CREDENTIALS_HINT}"
    if scheme:
        return f"{quoted(ref)} is a URL, not an image reference: drop {scheme.group()!r} and {IMAGE_FORMAT}"
    if len(ref) > _REFERENCE_LENGTH:
        return f"{quoted(ref)} is not an image reference: it is too long (at most {_REFERENCE_LENGTH}): {IMAGE_FORMAT}"
    if not ref or not ref.isprintable() or any(c.isspace() for c in ref):
        what = "is empty" if not ref else "has a space or a control character"
        return f"{quoted(ref)} is not an image reference: it {what}: {IMAGE_FORMAT}"
    name, _, digest = ref.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.partition(":")[2] if ":" in last else None
    name = name[: len(name) - len(tag) - 1] if tag is not None else name
    if problem := _name_problem(name):
        return f"{quoted(ref)} is not an image reference: {problem}: {IMAGE_FORMAT}"
    if tag is not None and not _TAG.fullmatch(tag):
        return (
            f"{quoted(ref)} is not an image reference: its tag {quoted(tag, 30)} is not letters, "
            f"digits, '_', '.' and '-' (at most 128, not starting with '.' or '-'): {IMAGE_FORMAT}"
        )
    if digest:
        algorithm, _, hex_digits = digest.partition(":")
        length = _DIGEST_LENGTHS.get(algorithm)
        if length is None or not re.fullmatch(rf"[0-9a-f]{{{length}}}", hex_digits):
            return (
                f"the digest {quoted(digest, 30)} of image {quoted(ref.partition('@')[0])} is not "
                "sha256: and 64 lower-case hex digits (or sha384/sha512): copy the digest whole, "
                "e.g. from skopeo inspect"
            )
    elif "@" in ref:
        return (
            f"{quoted(ref)} is not an image reference: it has '@' without a digest: {IMAGE_FORMAT}"
        )
    if pinned and not digest and tag in (None, "latest"):
        return (
            f"pin the image to a tag or digest, not {quoted(ref)}: a tag other than latest, or "
            "@sha256:DIGEST, so that every pod runs the same image"
        )
    return None


def _name_problem(name: str) -> str | None:
    """What is wrong with the repository part of an image reference, or None."""
    if len(name) > NAME_TOTAL_LENGTH:
        return f"its name is longer than {NAME_TOTAL_LENGTH} characters"
    first, slash, path = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        if not _DOMAIN.fullmatch(first):
            return f"its registry {quoted(first, 40)} is not a host name with an optional :PORT"
    else:
        path = name
    for component in path.split("/"):
        if not component:
            return "its repository path has an empty component ('//', or '/' at an end)"
        if not _PATH_COMPONENT.fullmatch(component):
            if component != component.lower():
                return f"its repository path {quoted(path, 40)} has upper-case letters: repositories are lower case"
            return (
                f"its repository path component {quoted(component, 40)} is not lower case letters "
                "and digits separated by '.', '_', '__' or '-'"
            )
    return None


def is_pinned(image: str) -> bool:
    """True for an image with a tag other than ``latest``, or a digest (its syntax unchecked:
    :func:`image_reference_problem` checks both)."""
    if "@" in image:
        return True
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    return bool(tag) and tag != "latest"


def _pinned_image(value: str) -> str:
    if problem := image_reference_problem(value):
        raise ValueError(problem)
    return value


DnsLabel = Annotated[str, BeforeValidator(_dns_label)]
ModelName = Annotated[str, AfterValidator(_model_name)]
DeploymentName = Annotated[str, BeforeValidator(_deployment_name)]
Quantity = Annotated[str, AfterValidator(_quantity)]
LabelValue = Annotated[str, AfterValidator(_label_value)]
PinnedImage = Annotated[str, AfterValidator(_pinned_image)]
NodeSelector = Annotated[dict[str, str], BeforeValidator(_node_selector)]
