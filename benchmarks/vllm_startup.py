"""Benchmark: vLLM on the CPU with torch.compile (its default) against eager mode, side by side.

The demo's vLLM serves the bundled 135M model on a CPU. Compiling the model takes most of
vLLM's start-up on a fresh machine; eager mode skips it, and may decode more slowly. Both
start the same server the embedded stack starts (``serving.embedded.server_argv``), each with
an empty compile cache of its own (as on a fresh machine), in alternating rounds (this
machine is shared and noisy); the best round of each is kept:

* start: seconds from the command to ``/v1/models`` listing the model;
* throughput: output tokens per second over the same batch of chat completions (the demo's
  evaluation concurrency, a fixed answer length, temperature 0);
* break-even: how many output tokens the faster decoder needs to win back its slower start.

Last line: ``start_s_compiled=A start_s_eager=B tokens_per_s_compiled=C
tokens_per_s_eager=D start_ratio=E throughput_ratio=F break_even_tokens=G``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

QUESTION = "In three sentences: what does a Kubernetes readiness probe check, and why?"


def start(model_dir: Path, eager: bool, cache: Path, log: Path) -> tuple[subprocess.Popen, str]:
    from llama_rollout.embedded import processes
    from llama_rollout.serving.embedded import MAX_MODEL_LEN, server_argv, server_env

    port = processes.free_port()
    argv = server_argv(model_dir, port, served_name="bench", max_model_len=MAX_MODEL_LEN,
                       eager=eager)  # fmt: skip
    env = {**os.environ, **server_env(), "VLLM_CACHE_ROOT": str(cache)}
    process = subprocess.Popen(argv, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{port}"


def wait_ready(process: subprocess.Popen, url: str, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"vLLM exited with {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{url}/v1/models", timeout=5) as answer:
                if any(m["id"] == "bench" for m in json.load(answer)["data"]):
                    return
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit(f"vLLM was not ready in {timeout:.0f} s")


async def workload(url: str, requests: int, concurrency: int, max_tokens: int) -> float:
    """Output tokens per second over ``requests`` completions, ``concurrency`` at a time."""
    import httpx2

    limit = asyncio.Semaphore(concurrency)
    body = {"model": "bench", "messages": [{"role": "user", "content": QUESTION}],
            "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True}  # fmt: skip
    timeout = httpx2.Timeout(300, connect=5)
    async with httpx2.AsyncClient(base_url=url, timeout=timeout) as client:

        async def one() -> int:
            async with limit:
                answer = await client.post("/v1/chat/completions", json=body)
                answer.raise_for_status()
                return int(answer.json()["usage"]["completion_tokens"])

        started = time.monotonic()
        tokens = sum(await asyncio.gather(*(one() for _ in range(requests))))
        return tokens / (time.monotonic() - started)


def measure(model_dir: Path, eager: bool, folder: Path, args: argparse.Namespace) -> tuple:
    label = "eager" if eager else "compiled"
    cache = Path(tempfile.mkdtemp(prefix=f"vllm-cache-{label}-", dir=folder))
    started = time.monotonic()
    process, url = start(model_dir, eager, cache, folder / f"vllm-{label}.log")
    try:
        wait_ready(process, url)
        ready = time.monotonic() - started
        rate = asyncio.run(workload(url, args.requests, args.concurrency, args.max_tokens))
    finally:
        process.terminate()
        process.wait(timeout=60)
    return ready, rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=4, help="the demo's eval_concurrency")
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()

    from llama_rollout.embedded.bundled_model import ensure_bundled_model
    from llama_rollout.embedded.stack import cache_dir

    model_dir = ensure_bundled_model(cache_dir())
    best: dict[bool, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="llama-rollout-vllm-bench-") as scratch:
        for round_number in range(args.rounds):
            for eager in (False, True):
                ready, rate = measure(model_dir, eager, Path(scratch), args)
                label = "eager" if eager else "compiled"
                print(f"round {round_number + 1} {label}: ready in {ready:.1f} s, "
                      f"{rate:.1f} output tokens/s", flush=True)  # fmt: skip
                old = best.get(eager)
                best[eager] = (min(ready, old[0]), max(rate, old[1])) if old else (ready, rate)
    (start_c, rate_c), (start_e, rate_e) = best[False], best[True]
    saved = start_c - start_e
    slower = 1 / rate_e - 1 / rate_c  # seconds per token that eager costs (negative: it gains)
    break_even = saved / slower if slower > 0 else float("inf")
    print(
        f"start_s_compiled={start_c:.1f} start_s_eager={start_e:.1f} "
        f"tokens_per_s_compiled={rate_c:.1f} tokens_per_s_eager={rate_e:.1f} "
        f"start_ratio={start_c / start_e:.2f} throughput_ratio={rate_c / rate_e:.2f} "
        f"break_even_tokens={break_even:.0f}"
    )


if __name__ == "__main__":
    main()
