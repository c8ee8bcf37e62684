"""llama-rollout: a self-hosted Llama model from Hugging Face to production on OpenShift AI."""

from llama_rollout.errors import RolloutError

__all__ = ["RolloutError", "__version__"]
__version__ = "0.1.0"
