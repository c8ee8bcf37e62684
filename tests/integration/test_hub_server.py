"""The hub-compatible server, driven by huggingface_hub as against huggingface.co."""

from __future__ import annotations

import hashlib

import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

pytestmark = pytest.mark.integration


def test_model_info_and_snapshot_download(hub, make_model, tmp_path):
    folder = make_model(shards=2, shard_bytes=3 * 1024 * 1024)
    url = hub({"acme/tiny": folder})
    api = HfApi(endpoint=url, token=False)
    info = api.model_info("acme/tiny", files_metadata=True)
    assert len(info.sha) == 40
    siblings = {s.rfilename: s for s in info.siblings}
    shard = siblings["model-00001-of-00002.safetensors"]
    assert shard.lfs.sha256 == hashlib.sha256((folder / shard.rfilename).read_bytes()).hexdigest()
    assert siblings["config.json"].lfs is None and len(siblings["config.json"].blob_id) == 40
    assert api.model_info("acme/tiny", revision=info.sha).sha == info.sha

    local = snapshot_download(
        "acme/tiny", revision=info.sha, local_dir=tmp_path / "dl", endpoint=url, token=False
    )
    for path in folder.iterdir():
        assert (tmp_path / "dl" / path.name).read_bytes() == path.read_bytes()
    assert local


def test_errors_map_to_the_hub_exceptions(hub, make_model, tmp_path):
    url = hub({"acme/tiny": make_model()})
    api = HfApi(endpoint=url, token=False)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("acme/other")
    with pytest.raises(RevisionNotFoundError):
        api.model_info("acme/tiny", revision="v2")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download("acme/tiny", "absent.json", endpoint=url, token=False, cache_dir=tmp_path)


def test_range_reads(hub, make_model):
    import urllib.request

    folder = make_model(shards=1, shard_bytes=1024 * 1024)
    url = hub({"acme/tiny": folder})
    data = (folder / "model-00001-of-00001.safetensors").read_bytes()
    request = urllib.request.Request(
        f"{url}/acme/tiny/resolve/main/model-00001-of-00001.safetensors",
        headers={"Range": "bytes=1000-1999"},
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 206
        assert response.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
        assert response.headers["X-Repo-Commit"]
        assert response.read() == data[1000:2000]
