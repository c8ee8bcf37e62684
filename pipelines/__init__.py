"""The llama-rollout pipeline and its compiled YAML (``llama-rollout.yaml``)."""
