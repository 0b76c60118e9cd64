"""Test-wide JAX settings: tests use tiny shapes, so XLA compile time dominates and is cut down here.

The persistent compilation cache (which the library's entry points turn on) goes to a temporary folder for
the session, removed at exit, so tests never write into ~/.cache; the subprocesses tests start (CLI,
scripts, examples) inherit it through $JAX_COMPILATION_CACHE_DIR. A JAX_COMPILATION_CACHE_DIR already set
in the environment is kept (e.g. to reuse compiles across test sessions).
"""

import atexit
import os
import shutil
import tempfile

if not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
    _session_cache = tempfile.mkdtemp(prefix="shapley-nas-jax-tests-xla-")
    atexit.register(shutil.rmtree, _session_cache, ignore_errors=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _session_cache

import jax  # noqa: E402

from shapley_nas_jax.compilation_cache import use_fast_compile  # noqa: E402

jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])  # if jax came in first
use_fast_compile()  # before the backend starts: its XLA flags reach this process and every subprocess
# In-process tests do not write the persistent cache: they compile hundreds of tiny programs once each, and
# under jax 0.10.2 writing one of them (a rematerialised, edge-scanned supernet's step) crashed the process
# in the cache's serialisation. Subprocesses (CLI, scripts, the resume test) still use the folder above.
jax.config.update("jax_enable_compilation_cache", False)

