from __future__ import annotations

import pytest

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
