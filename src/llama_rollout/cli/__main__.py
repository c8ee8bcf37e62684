"""``python -m llama_rollout.cli``, as the tests and the components run it."""

import sys

from llama_rollout.cli import main

sys.exit(main())
