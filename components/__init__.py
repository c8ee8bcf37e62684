"""KFP components, one module per pipeline step.

Each component is thin: it parses its inputs, calls ``llama_rollout`` (installed in the runtime
image) and returns its outputs. Only the standard library and kfp are imported at module level;
everything else is imported inside the component function, which is what runs in the pod.
"""

import os

# The image every step runs in on the cluster: the Containerfile at the repository root.
RUNTIME_IMAGE = os.environ.get("LLAMA_ROLLOUT_IMAGE", "quay.io/llama-rollout/runtime:0.1.0")
