"""KFP components, one module per pipeline step.

Each component is thin: it parses its inputs, calls ``llama_rollout`` (installed in the runtime
image) and returns its outputs. Only the standard library and kfp are imported at module level;
everything else is imported inside the component function, which is what runs in the pod.
"""

import functools

from kfp import dsl

# The image every step runs in: built in the cluster from the Containerfile by
# manifests/runtime-image (an ImageStream with local lookup, so the short name resolves in the
# project that built it). `llama-rollout compile --image REF` points the pipeline elsewhere.
RUNTIME_IMAGE = "llama-rollout-runtime:0.1.0"

# kfp is in the runtime image: no `pip install kfp` at the start of every step, which a
# disconnected cluster could not run.
runtime_component = functools.partial(
    dsl.component, base_image=RUNTIME_IMAGE, install_kfp_package=False
)
