"""How long each endpoint may take: a connect timeout, a read timeout, and a bounded total.

A bound is a total, wall clock, from the start of a request to the last byte of its answer:
each attempt may take its connect timeout plus its read timeout in all, however slowly the
bytes come (``llama_rollout.deadline``), and the read timeout bounds each wait for a byte within
it. A server that accepts a connection and never answers, or answers a byte at a time, is an
error within these bounds, and the error names the endpoint, its URL and the time waited. The
README's table is this module's.
Waits that are long by nature (a model loading, an InferenceService becoming ready) have
their own timeouts, as parameters, and show progress while they last.
"""

from __future__ import annotations

from dataclasses import dataclass

from llama_rollout.errors import RolloutError
from llama_rollout.http_urls import without_userinfo

CONNECT = 10.0  # seconds to open a connection, for every endpoint


@dataclass(frozen=True)
class Bound:
    """The time one operation on an endpoint may take."""

    read: float  # seconds without a byte of the answer
    attempts: int = 1

    @property
    def connect(self) -> float:
        return CONNECT

    @property
    def total(self) -> float:
        """The longest the operation can take, wall clock, every attempt timing out: each
        attempt, its answer included, within CONNECT + read."""
        return self.attempts * (CONNECT + self.read)


# The hub's API (model info): one request.
HUB_API = Bound(read=30)
# S3, first contact (is the bucket there, is this S3), a manifest's read and the listings of
# verify, prune and local status: two attempts of a short read.
S3_PROBE = Bound(read=20, attempts=2)
# S3, every request of a transfer (botocore's standard retries): a part upload waits for its
# answer after sending up to 16 MiB or more. Per read only: a part takes its size over the
# link's speed, which no total fits; its total is the only one not enforced. Every other S3
# request (a head, a listing, starting or ending an upload) is bounded in all, per attempt.
S3_TRANSFER = Bound(read=60, attempts=5)
# The Model Registry: each call of the official client, and each REST request.
REGISTRY = Bound(read=30)
# The Kubernetes API: each request (discovery included); watches end on their own window.
KUBERNETES = Bound(read=30)
# vLLM: one chat completion (the tool-calling preflight, the demo's question) on a CPU.
VLLM = Bound(read=120)
VLLM_PROBE = Bound(read=10)  # /v1/models, before lm-eval's run
# Llama Stack: its health, version and model list, then one completion or Responses API call.
LLAMA_STACK_PROBE = Bound(read=10)
LLAMA_STACK_CALL = Bound(read=180)
# Lightspeed: one question through a provider (its own tool loop, then the model's answer).
LIGHTSPEED_QUERY = Bound(read=120)
# The Data Science Pipelines API: each request of kfp.Client (an upload of the compiled
# pipeline included).
PIPELINES_API = Bound(read=60)
# An MCP server: listing its tools, the whole exchange.
MCP = Bound(read=20)


class EndpointSilent(RolloutError):
    """An endpoint accepted the connection (or not) but did not answer, or not whole, within
    its bound."""

    def __init__(self, what: str, url: str, waited: float, *, hint: str | None = None) -> None:
        url = without_userinfo(url)
        super().__init__(
            f"{what} at {url} did not answer within {waited:.0f}s",
            hint=hint or f"check that {url} is the right address and that the server is up",
        )
