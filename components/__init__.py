"""KFP components, one module per pipeline step.

Each component is thin: it builds its stage's request from its arguments, calls
``llama_rollout`` (installed in the runtime image) and returns its outputs. Only the standard
library and kfp are imported at module level; everything else is imported inside the component
function, which is what runs in the pod.
"""

import functools
import importlib
import inspect
from collections.abc import Callable
from typing import Any

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


def step_component(request: str) -> Callable[[Callable[..., Any]], Any]:
    """A runtime component whose parameters are its stage's request (``module:Class``).

    The descriptions are the request's (and the run's): the component's own docstring holds
    its summary, its Returns and the Args of what is not in the request (its artifacts).
    Imported at compile time only: the pod runs the function's own source.
    """

    def component(func: Callable[..., Any]) -> Any:
        from llama_rollout.step_parameters import RunParameters, docstring, parameters

        module, _, name = request.partition(":")
        model = getattr(importlib.import_module(module), name)
        declared = parameters(RunParameters) | parameters(model)
        described = {name: p.description for name, p in declared.items()}
        func.__doc__ = docstring(func.__doc__ or "", inspect.signature(func).parameters, described)
        func.__request__ = model  # for the tests that hold the signature to the request
        return runtime_component(func)

    return component
