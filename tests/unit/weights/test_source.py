from __future__ import annotations

import pytest

from llama_rollout.errors import ConfigurationError, SourceNotFoundError
from llama_rollout.weights import source


@pytest.mark.parametrize(
    ("uri", "kind", "location", "revision"),
    [
        ("hf://meta-llama/Llama-3.2-3B-Instruct", "hf", "meta-llama/Llama-3.2-3B-Instruct", None),
        (
            "hf://HuggingFaceTB/SmolLM2-135M-Instruct@main",
            "hf",
            "HuggingFaceTB/SmolLM2-135M-Instruct",
            "main",
        ),
        (
            "hf://org/repo@0123456789abcdef0123456789abcdef01234567",
            "hf",
            "org/repo",
            "0123456789abcdef0123456789abcdef01234567",
        ),
        ("hf://org/repo@refs/pr/1", "hf", "org/repo", "refs/pr/1"),
        ("file:///models/llama", "file", "/models/llama", None),
        ("file://localhost/models/my%20llama", "file", "/models/my llama", None),
    ],
)
def test_parse_valid(uri, kind, location, revision):
    spec = source.parse_source_uri(uri)
    assert (spec.kind, spec.location, spec.revision) == (kind, location, revision)


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "meta-llama/Llama",
        "hf://",
        "hf://org",
        "hf://org/repo/extra",
        "hf://org/repo@",
        "hf://-org/repo",
        "hf://org/repo@bad rev",
        "file://models/x",
        "file://host/models",
        "https://huggingface.co/org/repo",
    ],
)
def test_parse_invalid_says_the_expected_form(uri):
    with pytest.raises(ConfigurationError) as excinfo:
        source.parse_source_uri(uri)
    assert "hf://" in str(excinfo.value) or "file:///" in str(excinfo.value)


def test_serving_files_drop_duplicate_weight_formats():
    kept, skipped = source.select_serving_files(
        [
            "config.json",
            "model.safetensors",
            "pytorch_model.bin",
            "original/consolidated.00.pth",
            ".gitattributes",
            "tokenizer.json",
        ]
    )
    assert kept == ["config.json", "model.safetensors", "tokenizer.json"]
    assert sorted(skipped) == [
        ".gitattributes",
        "original/consolidated.00.pth",
        "pytorch_model.bin",
    ]


def test_bin_only_repository_keeps_bin():
    kept, _ = source.select_serving_files(["config.json", "pytorch_model.bin"])
    assert kept == ["config.json", "pytorch_model.bin"]


def test_folder_revision_changes_with_content(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"x" * 100)
    spec = source.parse_source_uri(f"file://{tmp_path}")
    first = source.resolve(spec)
    assert source.resolve(spec).revision == first.revision
    (tmp_path / "model.safetensors").write_bytes(b"y" * 100)
    assert source.resolve(spec).revision != first.revision
    assert {f.path for f in first.files} == {"config.json", "model.safetensors"}


def test_missing_folder(tmp_path):
    with pytest.raises(SourceNotFoundError, match="does not exist"):
        source.resolve(source.parse_source_uri(f"file://{tmp_path}/absent"))


def test_default_model_name_is_dns_safe():
    spec = source.SourceSpec("hf", "HuggingFaceTB/SmolLM2-135M_Instruct.v2")
    resolved = source.ResolvedSource(spec, "abc", ())
    assert resolved.default_model_name == "smollm2-135m-instruct-v2"
