from __future__ import annotations

import pytest

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
