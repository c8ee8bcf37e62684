"""Whether the served model takes a token: one switch that the serving, Llama Stack,
evaluation and publish steps all act on, declared once for all of them."""

from __future__ import annotations

from typing import Annotated

from llama_rollout.step_parameters import parameter

# Whether vLLM takes only callers that may `get` its InferenceService (KServe's auth proxy).
EnableAuth = Annotated[
    bool,
    parameter(
        True,
        pipeline="enable_auth",
        description="token auth on the endpoint: only callers that may get the "
        "InferenceService reach vLLM (Llama Stack with vllm_token_secret's token, the pipeline "
        "with its own).",
    ),
]
