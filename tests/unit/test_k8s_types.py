from __future__ import annotations

import pickle
import re

import pytest
import yaml
from pydantic import TypeAdapter, ValidationError

from llama_rollout import k8s_types
from llama_rollout.k8s_types import is_pinned


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("quay.io/modh/vllm:rhoai-2.25-cuda", True),
        ("registry:5000/team/llama-stack:0.7.3", True),
        ("quay.io/x/y@sha256:" + "a" * 64, True),
        ("quay.io/x/y:latest", False),
        ("quay.io/x/y", False),
        ("registry:5000/team/llama-stack", False),
    ],
)
def test_pinned_images(image, pinned):
    assert is_pinned(image) is pinned


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("SmolLM2-135M-Instruct", "smollm2-135m-instruct"),
        ("Llama-3.2-3B-Instruct", "llama-3-2-3b-instruct"),
        ("3B-Instruct", "model-3b-instruct"),
        ("___", "model"),
        ("x" * 80, "x" * 45),
    ],
)
def test_derived_model_names_are_valid_everywhere(text, name):
    assert k8s_types.model_name_from(text) == name
    assert k8s_types.model_name_problem(name) is None


@pytest.mark.parametrize("name", ["3b", "Llama", "a_b", "-a", "a-", "a" * 46, "", "a.b"])
def test_names_kserve_would_refuse_are_refused(name):
    assert k8s_types.model_name_problem(name)


VALID_IMAGES = [
    "registry.redhat.io/rhaiis/vllm-cuda-rhel9@sha256:" + "e" * 64,
    "quay.io/modh/vllm:rhoai-2.25-cuda",
    "registry:5000/team/llama-stack:0.7.3",
    "localhost:5000/a/b:1",
    "[::1]:5000/a:1",
    "Quay.io/org/image:1",  # a registry's host name may have capitals
    "ubuntu:22.04",
    "library/ubuntu@sha256:" + "a" * 64,
    "quay.io/a__b/c--d.e_f:V1.0_x-y",
    "quay.io/x:1@sha256:" + "b" * 64,
    "quay.io/x:" + "t" * 128,
]


@pytest.mark.parametrize("image", VALID_IMAGES)
def test_image_references_a_registry_serves_are_accepted(image):
    assert k8s_types.image_reference_problem(image) is None


@pytest.mark.parametrize(
    ("image", "says"),
    [
        ("quay.io/x:1 --privileged", r"has a space or a control character"),
        (
            "quay.io/x:1\n",
            r"'quay.io/x:1\\n' is not an image reference: it has a space or a control",
        ),
        ("quay.io/x:1\t\a", r"\\t\\x07' is not an image reference"),
        ("quay.io/x:!!bad", r"its tag '!!bad' is not letters, digits"),
        ("quay.io/x:.hidden", r"its tag '.hidden' is not"),
        ("quay.io/x:" + "t" * 129, r"its tag .* is not"),
        ("Quay.io/X/Y:1", r"repository path 'X/Y' has upper-case letters"),
        (
            "quay.io/x:" + "t" * 100_000,
            r"\(100010 characters\) is not an image reference: it is too long",
        ),
        (
            "quay.io/x@sha256:abc",
            r"the digest 'sha256:abc' of image 'quay.io/x' is not sha256: and 64",
        ),
        ("quay.io/x@md5:" + "a" * 32, r"the digest .* is not sha256"),
        ("quay.io/x@sha256:" + "A" * 64, r"lower-case hex"),
        ("quay.io/x@", r"'@' without a digest"),
        ("quay.io//x:1", r"empty component"),
        ("quay.io/x/:1", r"empty component"),
        ("quay.io/a___b:1", r"component 'a___b' is not lower case letters"),
        ("quay_io:5000/x:1", r"registry 'quay_io:5000' is not a host name"),
        (
            "https://quay.io/x:1",
            r"'https://quay.io/x:1' is a URL, not an image reference: drop 'https://'",
        ),
        ("", r"'' is not an image reference: it is empty"),
        ("quay.io/x", r"pin the image to a tag or digest"),
        ("quay.io/x:latest", r"pin the image to a tag or digest, not 'quay.io/x:latest'"),
    ],
)
def test_image_references_are_checked_by_the_reference_grammar(image, says):
    problem = k8s_types.image_reference_problem(image)
    assert problem and re.search(says, problem), problem
    assert "\n" not in problem and len(problem) < 400
    assert problem.endswith(("e.g. quay.io/org/image:1.0", "skopeo inspect", "the same image"))


def test_an_unpinned_reference_is_well_formed_when_pinning_is_not_asked():
    assert k8s_types.image_reference_problem("quay.io/x", pinned=False) is None
    assert k8s_types.image_reference_problem("quay.io/x:latest", pinned=False) is None
    assert k8s_types.image_reference_problem("quay.io/X", pinned=False)


@pytest.mark.parametrize(
    "image",
    [
        "https://u:PLANTED-0123456789abcdef@quay.io/x:1",
        "u:PLANTED-0123456789abcdef@quay.io/x:1",
        "PLANTED-0123456789abcdef@quay.io/x:1",
        "http://u:PLAN@TED-0123456789abcdef@quay.io/x:1",
        "u:PLANTED-0123456789abcdef@quay.io/x@sha256:" + "a" * 64,
        "docker://u:PLANTED-0123456789abcdef@quay.io/x",
    ],
)
def test_credentials_in_an_image_reference_are_refused_without_being_shown(image):
    problem = k8s_types.image_reference_problem(image)
    assert problem.startswith("an image reference carries no credentials (user:password@)")
    assert "pull secret" in problem and "oc secrets link" in problem
    assert "PLAN" not in problem and "0123456789" not in problem


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("nvidia.com/gpu.product", True),
        ("kubernetes.io/hostname", True),
        ("gpu", True),
        ("A_b.C-9", True),
        ("x" * 63, True),
        ("p" * 253 + "/n", True),
        ("", False),
        ("a b", False),
        ("x" * 64, False),
        ("x/", False),
        ("/x", False),
        ("Bad.Prefix/x", False),
        ("-a", False),
        ("a/b/c", False),
        ("a\n", False),
    ],
)
def test_label_keys_follow_the_qualified_name_rule(key, ok):
    assert (k8s_types.label_key_problem(key) is None) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [("", True), ("NVIDIA-A100-SXM4-80GB", True), ("v" * 63, True), ("v" * 64, False),
     ("v\n", False), ("a b", False), ("-a", False), ("a.", False)],
)  # fmt: skip
def test_label_values(value, ok):
    assert (k8s_types.label_value_problem(value) is None) is ok


@pytest.mark.parametrize("value", ["2Gi\n", "\uff12Gi", "\u0661Gi"])
def test_a_trailing_newline_or_a_non_ascii_digit_is_no_quantity(value):
    with pytest.raises(ValueError, match="not a Kubernetes resource quantity"):
        k8s_types.size_in_bytes(value)


def test_a_trailing_newline_is_no_name():
    assert k8s_types.dns_label_problem("abc\n")
    assert k8s_types.object_name_problem("abc\n")
    assert k8s_types.model_name_problem("abc\n")


def test_a_versioned_name_is_reported_by_the_name_given_and_its_own_limit():
    adapter = TypeAdapter(k8s_types.DnsLabel)
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python(k8s_types.versioned_name("l" * 56, "0" * 40))
    message = caught.value.errors()[0]["msg"]
    assert "-0000000" not in message and "63" in message
    assert re.search(r"'l{56}' \(56 characters\) is longer than 55 characters", message)
    assert (
        adapter.validate_python(k8s_types.versioned_name("l" * 55, "abcdef0123"))
        == "l" * 55 + "-abcdef0"
    )
    with pytest.raises(
        ValidationError,
        match=r"'l{60}'... \(64 characters\) is not a DNS-1123 label .*at most 63\)",
    ):
        adapter.validate_python("l" * 64)
    deployment = TypeAdapter(k8s_types.DeploymentName)
    with pytest.raises(ValidationError) as caught:
        deployment.validate_python(k8s_types.versioned_name("a" * 46, "0" * 40))
    message = caught.value.errors()[0]["msg"]
    assert "-0000000" not in message
    assert "is longer than 45 characters, the most a model name can have" in message
    with pytest.raises(
        ValidationError, match="longer than 53 characters, the most an InferenceService name"
    ):
        deployment.validate_python("a" * 54)


def test_a_versioned_name_is_plain_text_to_yaml_and_pickle():
    name = k8s_types.versioned_name("llama", "ABCDEF0123")
    assert name == "llama-abcdef0" and name.base == "llama"
    assert yaml.safe_dump({"name": name}) == "name: llama-abcdef0\n"
    assert type(pickle.loads(pickle.dumps(name))) is str
