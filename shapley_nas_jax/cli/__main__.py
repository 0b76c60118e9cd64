"""``python -m shapley_nas_jax.cli``: the ``shapley-nas`` command."""

import sys

from shapley_nas_jax.cli import main

sys.exit(main())
