"""What S3 and the Model Registry hold, to prove that a rejected command left them as it found
them (and that a run made exactly one model and one version)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


def bucket_listing(client: Any) -> dict[str, list[tuple[str, str]]]:
    """Every object of every bucket, with its ETag."""
    return {
        bucket["Name"]: [
            (o["Key"], o["ETag"])
            for o in client.list_objects_v2(Bucket=bucket["Name"]).get("Contents", [])
        ]
        for bucket in client.list_buckets()["Buckets"]
    }


def registry_listing(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every registered model and model version, over the registry's REST API."""
    base = f"{url}/api/model_registry/v1alpha3"
    listing = {}
    for kind in ("registered_models", "model_versions"):
        with urllib.request.urlopen(f"{base}/{kind}?pageSize=1000", timeout=30) as response:
            listing[kind] = json.load(response)["items"]
    return listing
