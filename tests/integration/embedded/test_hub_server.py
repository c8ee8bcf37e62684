"""The hub-compatible server, driven by huggingface_hub as against huggingface.co."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
import urllib3
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from tests.faulty_hub import Faults

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


SHARD = "model-00001-of-00001.safetensors"


def get(url: str, **headers: str) -> urllib3.BaseHTTPResponse:
    return urllib3.request("GET", url, headers=headers, redirect=False, timeout=10)


def test_an_lfs_file_redirects_to_a_signed_cdn_url_like_huggingface_co(hub, make_model):
    folder = make_model(shards=1, shard_bytes=1024 * 1024)
    url = hub({"acme/tiny": folder})
    data = (folder / SHARD).read_bytes()
    redirect = get(f"{url}/acme/tiny/resolve/main/{SHARD}")
    assert redirect.status == 302
    assert redirect.headers["X-Linked-Size"] == str(len(data))
    assert redirect.headers["X-Linked-Etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert len(redirect.headers["X-Repo-Commit"]) == 40
    location = redirect.headers["Location"]
    assert urlsplit(location).port != urlsplit(url).port, "the CDN is another origin"

    part = get(location, Range="bytes=1000-1999")
    assert part.status == 206
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    assert part.data == data[1000:2000]


def test_the_cdn_refuses_a_second_credential_and_a_bad_signature(hub, make_model):
    url = hub({"acme/tiny": make_model(shards=1, shard_bytes=1024 * 1024)})
    location = get(f"{url}/acme/tiny/resolve/main/{SHARD}").headers["Location"]
    refused = get(location, Authorization="Bearer hf_token")
    assert refused.status == 400 and b"Only one auth mechanism allowed" in refused.data
    query = parse_qs(urlsplit(location).query)
    tampered = location.replace(query["Expires"][0], str(int(query["Expires"][0]) + 3600))
    assert get(tampered).status == 403
    assert get(location.replace(query["Signature"][0], "0" * 64)).status == 403


def test_a_regular_file_redirects_relatively_to_the_resolve_cache(hub, make_model):
    folder = make_model()
    url = hub({"acme/tiny": folder})
    redirect = get(f"{url}/acme/tiny/resolve/main/config.json")
    assert redirect.status == 307
    assert redirect.headers["Location"].startswith("/api/resolve-cache/models/acme/tiny/")
    assert get(url + redirect.headers["Location"]).data == (folder / "config.json").read_bytes()


def test_huggingface_hub_downloads_a_private_repo_and_keeps_the_token_off_the_cdn(
    hub, make_model, tmp_path
):
    folder = make_model(shards=2, shard_bytes=3 * 1024 * 1024)
    faults = Faults()
    token = "hf_" + "t" * 34
    url = hub({"acme/private": folder}, faults, token=token)
    # huggingface_hub names a 401 RepositoryNotFoundError on https endpoints only.
    with pytest.raises(HfHubHTTPError, match="401 Unauthorized"):
        hf_hub_download(
            "acme/private", "config.json", endpoint=url, token=False, cache_dir=tmp_path
        )
    snapshot_download("acme/private", local_dir=tmp_path / "dl", endpoint=url, token=token)
    for path in folder.iterdir():
        assert (tmp_path / "dl" / path.name).read_bytes() == path.read_bytes()
    cdn = [r for r in faults.requests if r.server == "cdn"]
    assert len(cdn) >= 2 and not any(r.authorization for r in cdn)
