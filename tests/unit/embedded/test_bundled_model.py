from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from llama_rollout.embedded import bundled_model


def llama_cpp_permute(weights, n_head):
    """llama.cpp's convert_hf_to_gguf permutation, which the converter must undo."""
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


@pytest.mark.parametrize(("rows", "heads"), [(576, 9), (192, 3), (64, 1)])
def test_unpermute_inverts_llama_cpp_permute(rows, heads):
    weights = np.random.default_rng(0).standard_normal((rows, 8)).astype(np.float32)
    permuted = llama_cpp_permute(weights, heads)
    assert not np.array_equal(permuted, weights)
    assert np.array_equal(bundled_model.unpermute_rotary(permuted, heads), weights)


def test_bfloat16_rounds_to_nearest_even():
    values = np.array([1.0, -2.5, 3.140625, 1.00390625, 1.01171875], dtype=np.float32)
    raw = np.frombuffer(bundled_model.to_bfloat16_bytes(values), dtype="<u2")
    back = (raw.astype(np.uint32) << 16).view(np.float32)
    assert back.tolist() == [1.0, -2.5, 3.140625, 1.0, 1.015625]


def test_safetensors_layout(tmp_path):
    tensors = {"b": np.ones((2, 3), np.float32), "a": np.zeros((4,), np.float32)}
    path = tmp_path / "m.safetensors"
    bundled_model.write_safetensors(path, tensors, metadata={"format": "pt"})
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    assert (8 + length) % 8 == 0
    assert header["a"] == {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]}
    assert header["b"] == {"dtype": "BF16", "shape": [2, 3], "data_offsets": [8, 20]}
    assert len(raw) == 8 + length + 20
    assert raw[8 + length + 8 : 8 + length + 10] == b"\x80\x3f"  # bf16 1.0
