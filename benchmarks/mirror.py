"""Benchmark: this project's mirror against the naive way and against the limit, side by side.

A generated model (several safetensors shards, ``--size-mib`` in all) is served by the
project's hub-compatible server and mirrored into the embedded S3 (moto), both on loopback.
Each method runs in its own child process (so its peak RSS is its own), in alternating rounds
(this machine is shared and noisy), and the best round of each is kept:

* mirror: ``llama_rollout.weights.mirror`` (streamed, hashed, parallel multipart parts);
* naive: ``huggingface_hub.snapshot_download`` to disk, then ``boto3`` ``upload_file`` per file;
* limit: reading the source alone (same parallelism, bytes discarded) and writing S3 alone
  (same parts and parallelism, bytes from memory); the limit is the slower of the two.

The mirror's peak RSS is also measured at a quarter of the size: equal figures show memory
does not grow with the model.

Last line: ``mirror_MiBps=X naive_MiBps=Y limit_MiBps=Z speedup_vs_naive=A
fraction_of_limit=B peak_rss_MiB=C``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MiB = 1024 * 1024
REPO = "bench/generated-model"
HERE = Path(__file__).resolve()


def bench_settings():
    """The mirror settings under test (``--part-size-mib`` etc.), shared by mirror and limit."""
    from llama_rollout.weights import MirrorSettings

    return MirrorSettings.model_validate_json(os.environ.get("BENCH_SETTINGS") or "{}")


# -- the methods, each run as: python benchmarks/mirror.py --child METHOD ----------------------


def child_mirror(size: int, prefix: str) -> None:
    from llama_rollout import weights
    from llama_rollout.weights import source
    from llama_rollout.weights.connection import DataConnection

    resolved = source.resolve(source.parse_source_uri(f"hf://{REPO}"))
    weights.mirror(
        resolved,
        DataConnection.from_env(),
        model_name=prefix,
        base_prefix="bench",
        settings=bench_settings(),
    )


def child_naive(size: int, prefix: str) -> None:
    from huggingface_hub import snapshot_download

    from llama_rollout.weights.connection import DataConnection

    connection = DataConnection.from_env()
    client = connection.client()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        folder = Path(snapshot_download(REPO, local_dir=tmp))
        for path in sorted(folder.rglob("*")):
            if path.is_file() and ".cache" not in path.parts:
                key = f"bench/{prefix}/{path.relative_to(folder).as_posix()}"
                client.upload_file(str(path), connection.bucket, key)


def child_read(size: int, prefix: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from llama_rollout.weights import source
    from llama_rollout.weights.reader import SourceReader

    resolved = source.resolve(source.parse_source_uri(f"hf://{REPO}"))
    reader = SourceReader(resolved)
    settings = bench_settings()

    def drain(file: source.SourceFile) -> int:
        return sum(len(chunk) for chunk in reader.chunks(file))

    with ThreadPoolExecutor(settings.file_concurrency) as pool:
        total = sum(pool.map(drain, resolved.files))
    assert total == resolved.total_bytes


def child_write(size: int, prefix: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from llama_rollout.weights import source
    from llama_rollout.weights.connection import DataConnection

    connection = DataConnection.from_env()
    settings = bench_settings()
    client = connection.client(max_pool_connections=settings.part_concurrency + 2)
    resolved = source.resolve(source.parse_source_uri(f"hf://{REPO}"))
    block = os.urandom(settings.part_size)

    def put_part(args: tuple[str, str, int, int]) -> dict[str, object]:
        key, upload_id, number, length = args
        response = client.upload_part(
            Bucket=connection.bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=block[:length],
        )
        return {"PartNumber": number, "ETag": response["ETag"]}

    with ThreadPoolExecutor(settings.part_concurrency) as pool:
        for file in resolved.files:
            key = f"bench/{prefix}/{file.path}"
            upload_id = client.create_multipart_upload(Bucket=connection.bucket, Key=key)[
                "UploadId"
            ]
            lengths = [
                min(settings.part_size, file.size - o)
                for o in range(0, file.size, settings.part_size)
            ]
            parts = list(
                pool.map(put_part, [(key, upload_id, i + 1, n) for i, n in enumerate(lengths)])
            )
            client.complete_multipart_upload(
                Bucket=connection.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )


CHILDREN = {"mirror": child_mirror, "naive": child_naive, "read": child_read, "write": child_write}


def run_child(method: str, size: int, prefix: str, env: dict[str, str]) -> tuple[float, float]:
    """Run one method in a child process; return (MiB/s, peak RSS MiB)."""
    result = subprocess.run(
        [sys.executable, str(HERE), "--child", method, "--size-mib", str(size // MiB), "--prefix", prefix],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"{method} failed:\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return size / MiB / report["seconds"], report["peak_rss_MiB"]


# -- the harness ------------------------------------------------------------------------------


def generate_model(folder: Path, size: int, shards: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    block = os.urandom(16 * MiB)
    per_shard = size // shards
    for i in range(shards):
        with (folder / f"model-{i + 1:05d}-of-{shards:05d}.safetensors").open("wb") as fh:
            left = per_shard
            while left > 0:
                fh.write(block[: min(left, len(block))])
                left -= len(block)


def clear_bucket(env: dict[str, str]) -> None:
    from llama_rollout.weights.connection import DataConnection

    connection = DataConnection.from_env(env)
    client = connection.client()
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=connection.bucket, Prefix="bench/"):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=connection.bucket, Key=item["Key"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", choices=sorted(CHILDREN))
    parser.add_argument("--prefix", default="run")
    parser.add_argument("--part-size-mib", type=int, help="default: the mirror's default")
    parser.add_argument("--part-concurrency", type=int)
    parser.add_argument("--file-concurrency", type=int)
    args = parser.parse_args()
    size = args.size_mib * MiB
    if args.child:
        started = time.perf_counter()
        CHILDREN[args.child](size, args.prefix)
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"peak_rss_MiB": round(peak, 1), "seconds": seconds}))
        return

    settings = {
        key: value
        for key, value in (
            ("part_size", args.part_size_mib and args.part_size_mib * MiB),
            ("part_concurrency", args.part_concurrency),
            ("file_concurrency", args.file_concurrency),
        )
        if value
    }
    sys.path.insert(0, str(HERE.parents[1] / "src"))
    from llama_rollout.embedded.stack import EmbeddedStack

    with tempfile.TemporaryDirectory(prefix="mirror-bench-") as tmp:
        root = Path(tmp)
        results: dict[str, list[tuple[float, float]]] = {m: [] for m in CHILDREN}
        rss_small = None
        for label, model_size in (("quarter", size // 4), ("full", size)):
            model = root / label / "model"
            generate_model(model, model_size, args.shards)
            stack = EmbeddedStack(root / label / "state", hub_repos={REPO: model})
            stack.up()
            env = {
                **os.environ,
                **stack.environment(),
                "BENCH_TMP": str(root),
                "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            }
            env["HF_HOME"] = str(root / "hf-home")
            env["BENCH_SETTINGS"] = json.dumps(settings)
            try:
                if label == "quarter":
                    _, rss_small = run_child("mirror", model_size, "quarter", env)
                    print(
                        f"mirror peak RSS at {model_size // MiB} MiB: {rss_small:.0f} MiB",
                        flush=True,
                    )
                    continue
                for round_number in range(args.rounds):
                    for method in ("read", "write", "naive", "mirror"):
                        clear_bucket(env)
                        rate, peak = run_child(method, model_size, f"{method}-{round_number}", env)
                        results[method].append((rate, peak))
                        print(
                            f"round {round_number + 1} {method:6} {rate:7.1f} MiB/s  peak RSS {peak:6.0f} MiB",
                            flush=True,
                        )
            finally:
                stack.down()
    best = {m: max(r for r, _ in runs) for m, runs in results.items()}
    limit = min(best["read"], best["write"])
    peak_rss = max(p for _, p in results["mirror"])
    print(
        f"mirror peak RSS at {args.size_mib} MiB: {peak_rss:.0f} MiB (at a quarter: {rss_small:.0f} MiB)"
    )
    print(
        f"mirror_MiBps={best['mirror']:.1f} naive_MiBps={best['naive']:.1f} limit_MiBps={limit:.1f} "
        f"speedup_vs_naive={best['mirror'] / best['naive']:.2f} "
        f"fraction_of_limit={best['mirror'] / limit:.2f} peak_rss_MiB={peak_rss:.0f}"
    )


if __name__ == "__main__":
    main()
