from __future__ import annotations

import errno
import os

import pytest

from llama_rollout.errors import ConfigurationError, SourceError, SourceNotFoundError
from llama_rollout.weights import folder as model_folder
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


def _model_folder(root):
    root.mkdir()
    (root / "config.json").write_text("{}")
    (root / "model.safetensors").write_bytes(b"w" * 64)
    return root


def _resolve_folder(folder):
    return source.resolve(source.parse_source_uri(f"file://{folder}"))


def test_a_folder_that_is_not_a_model_is_refused(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "shadow").write_text("root:*:19000:0:99999:7:::\n")
    (etc / "hosts").write_text("127.0.0.1 localhost\n")
    with pytest.raises(SourceError, match=r"has no config.json: it is not a model folder"):
        _resolve_folder(etc)
    (etc / "config.json").write_text("{}")
    with pytest.raises(SourceError, match=r"has no weight files"):
        _resolve_folder(etc)


def test_an_empty_weight_file_is_refused(tmp_path):
    folder = _model_folder(tmp_path / "m")
    (folder / "model.safetensors").write_bytes(b"")
    with pytest.raises(SourceError, match=r"weight file model.safetensors in .* is empty"):
        _resolve_folder(folder)


def test_links_into_a_cache_are_followed_as_in_a_hub_snapshot(tmp_path):
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    (blobs / "a1").write_text("{}")
    (blobs / "b2").write_bytes(b"w" * 64)
    snapshot = tmp_path / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").symlink_to("../../blobs/a1")
    (snapshot / "model.safetensors").symlink_to(blobs / "b2")
    resolved = _resolve_folder(snapshot)
    assert {(f.path, f.size) for f in resolved.files} == {
        ("config.json", 2),
        ("model.safetensors", 64),
    }


def test_a_broken_link_is_named(tmp_path):
    folder = _model_folder(tmp_path / "m")
    (folder / "tokenizer.json").symlink_to(tmp_path / "gone.json")
    with pytest.raises(SourceError, match=r"m/tokenizer.json is a broken link \(to .*gone.json\)"):
        _resolve_folder(folder)


def test_a_link_loop_is_named(tmp_path):
    folder = _model_folder(tmp_path / "m")
    (folder / "sub").mkdir()
    (folder / "sub" / "up").symlink_to(folder)
    with pytest.raises(SourceError, match=r"m/sub/up links back to a folder that contains it"):
        _resolve_folder(folder)
    (folder / "sub" / "up").unlink()
    (folder / "a").symlink_to(folder / "b")
    (folder / "b").symlink_to(folder / "a")
    with pytest.raises(SourceError, match=r"m/a is a symlink loop"):
        _resolve_folder(folder)


def test_an_unreadable_folder_is_named(tmp_path, monkeypatch):
    folder = _model_folder(tmp_path / "m")
    (folder / "private").mkdir()
    real_scandir = os.scandir

    def scandir(path):
        # Tests run as root here, where chmod 000 still reads: the kernel's answer, injected.
        if str(path).endswith("/private"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(model_folder.os, "scandir", scandir)
    with pytest.raises(SourceError, match=r"cannot read .*m/private: Permission denied"):
        _resolve_folder(folder)


def test_a_fifo_in_the_folder_is_named(tmp_path):
    folder = _model_folder(tmp_path / "m")
    os.mkfifo(folder / "pipe")
    with pytest.raises(SourceError, match=r"m/pipe is not a regular file or folder"):
        _resolve_folder(folder)


def test_hidden_entries_are_left_out(tmp_path):
    folder = _model_folder(tmp_path / "m")
    (folder / ".cache" / "huggingface").mkdir(parents=True)
    (folder / ".cache" / "huggingface" / "lock").write_text("")
    assert {f.path for f in _resolve_folder(folder).files} == {"config.json", "model.safetensors"}


def test_a_dot_dot_segment_is_refused():
    with pytest.raises(ConfigurationError, match=r"has a '\.\.' segment"):
        source.parse_source_uri("file:///models/../../etc")
