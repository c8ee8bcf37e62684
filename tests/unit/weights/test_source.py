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
    with pytest.raises(SourceError, match=r"m/pipe is a named pipe, not a regular file or folder"):
        _resolve_folder(folder)


@pytest.mark.parametrize(
    ("make", "kind"),
    [(os.mkfifo, "a named pipe"), (os.mkdir, "a folder")],
)
def test_a_config_json_that_is_no_file_is_called_what_it_is(tmp_path, make, kind):
    folder = tmp_path / "m"
    folder.mkdir()
    make(folder / "config.json")
    (folder / "model.safetensors").write_bytes(b"w" * 64)
    with pytest.raises(SourceError, match=rf"m/config.json is {kind}, not a file") as caught:
        _resolve_folder(folder)
    assert "has no config.json" not in str(caught.value)


def test_a_model_folder_that_is_a_device_or_a_pipe_is_called_what_it_is(tmp_path):
    with pytest.raises(SourceError, match=r"model folder /dev/zero is a character device, not a"):
        _resolve_folder("/dev/zero")
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(SourceError, match=r"model folder .*/pipe is a named pipe, not a folder"):
        _resolve_folder(tmp_path / "pipe")
    (tmp_path / "file").write_text("{}")
    with pytest.raises(SourceError, match=r"model folder .*/file is a regular file, not a folder"):
        _resolve_folder(tmp_path / "file")
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere")
    with pytest.raises(SourceError, match=r"model folder .*/gone is a broken link"):
        _resolve_folder(tmp_path / "gone")


def test_a_link_to_a_folder_above_the_model_is_named_not_what_lies_beside_it(tmp_path):
    # A sibling model folder with a broken link, which a walk through the parent would reach.
    sibling = _model_folder(tmp_path / "other")
    (sibling / "model.safetensors").unlink()
    (sibling / "model.safetensors").symlink_to("/nonexistent")
    folder = _model_folder(tmp_path / "m")
    (folder / "sub").symlink_to("..")
    with pytest.raises(SourceError) as caught:
        _resolve_folder(folder)
    message = str(caught.value)
    assert f"{folder}/sub links to {tmp_path}, a folder that holds the model folder" in message
    assert "other" not in message and "symlink loop" in message
    (folder / "sub").unlink()
    (folder / "root").symlink_to("/")
    with pytest.raises(SourceError, match=r"m/root links to /, a folder that holds the model"):
        _resolve_folder(folder)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("http://[::1", r"is not an http\(s\) URL \(an IPv6 address without its closing '\]'\)"),
        ("http://h:99999", "has port '99999', which is no port: give a number from 1 to 65535"),
        ("http://h:abc", "has port 'abc', which is no port"),
        ("http://h:0", "has port '0', which is no port"),
        ("http://\uff48\uff55\uff42.invalid", "has a host that is not ASCII"),
        ("http://h/\x1b[2J", "is not an http\\(s\\) URL .*control characters"),
        ("ftp://h", r"'ftp://h' is not an http\(s\) URL"),
        ("http://u:s3cret-pass@h", r"'http://h' carries credentials \(user:password@\)"),
        ("ftp://u:s3c@ret-pass@h", r"'ftp://h' carries credentials"),
        ("u:s3cret-pass@host", r"'host' carries credentials"),
    ],
)
def test_a_malformed_hf_endpoint_is_bad_input_named_without_its_credentials(
    monkeypatch, value, problem
):
    monkeypatch.setenv("HF_ENDPOINT", value)
    with pytest.raises(ConfigurationError, match=rf"^HF_ENDPOINT .*{problem}") as caught:
        source.hf_endpoint()
    assert "s3cret" not in str(caught.value) and "ret-pass" not in str(caught.value)
    assert "\n" not in str(caught.value) and "\x1b" not in str(caught.value)


def test_a_folder_mirror_does_not_read_hf_endpoint(monkeypatch, tmp_path):
    from llama_rollout.weights.reader import SourceReader

    monkeypatch.setenv("HF_ENDPOINT", "http://[::1")
    resolved = _resolve_folder(_model_folder(tmp_path / "m"))
    chunks = SourceReader(resolved).chunks(resolved.files[0])
    assert b"".join(chunks) == b"{}"


def test_hidden_entries_are_left_out(tmp_path):
    folder = _model_folder(tmp_path / "m")
    (folder / ".cache" / "huggingface").mkdir(parents=True)
    (folder / ".cache" / "huggingface" / "lock").write_text("")
    assert {f.path for f in _resolve_folder(folder).files} == {"config.json", "model.safetensors"}


def test_a_dot_dot_segment_is_refused():
    with pytest.raises(ConfigurationError, match=r"has a '\.\.' segment"):
        source.parse_source_uri("file:///models/../../etc")


@pytest.mark.parametrize(
    "name", ["password=s3cret-value-1234", "hf_ABCDEFGHIJKLMNOPQRSTUV", "token: abcdef12345678"]
)
def test_the_name_suggested_for_a_bad_model_name_never_spells_a_secret(name):
    with pytest.raises(ConfigurationError, match=r"use a name such as 'my-model'") as caught:
        source.check_model_name(name)
    text = str(caught.value).lower()
    assert "s3cret" not in text and "abcdefghijklmnop" not in text and "abcdef12345678" not in text
    with pytest.raises(ConfigurationError, match=r"use a name such as 'llama-3'"):
        source.check_model_name("Llama 3")
