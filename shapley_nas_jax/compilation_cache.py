"""JAX's persistent compilation cache, turned on by every entry point.

Compiling the supernet's steps takes most of a short search's time (minutes for the DARTS supernet), so
the compiled XLA programs are kept on disk and a rerun, a resumed run or another run of the same setup
loads them instead of compiling. ``enable_compilation_cache()`` is called by the ``shapley-nas`` command,
:func:`~shapley_nas_jax.search.run_search`, :meth:`~shapley_nas_jax.Search.from_config`,
:func:`~shapley_nas_jax.evaluation.run_training` and the scripts in ``scripts/`` (the benchmarks that time
compiles keep them cold unless asked); ``tests/conftest.py`` points it at a temporary folder.

Folder: ``$JAX_COMPILATION_CACHE_DIR`` (or ``jax_compilation_cache_dir`` set in code) when set, else
``~/.cache/shapley-nas-jax/xla``. JAX stores only programs that took at least
``jax_persistent_cache_min_compile_time_secs`` (default 1 s) to compile. Opt out with
``SHAPLEY_NAS_NO_COMPILATION_CACHE=1`` (the library then leaves JAX's settings alone) or with
``jax.config.update("jax_enable_compilation_cache", False)``.

Scripts share their compile options through :func:`add_compile_options` and :func:`apply_compile_options`:
``--fast-compile`` for quick checks and, in the benchmarks that time cold compiles, ``--cache``.
"""

from __future__ import annotations

import os

ENV_NO_CACHE = "SHAPLEY_NAS_NO_COMPILATION_CACHE"


def default_cache_dir() -> str:
    """``~/.cache/shapley-nas-jax/xla``: where compiled programs go unless JAX is told another folder."""
    return os.path.join(os.path.expanduser("~"), ".cache", "shapley-nas-jax", "xla")


def cache_opted_out() -> bool:
    """True when ``$SHAPLEY_NAS_NO_COMPILATION_CACHE`` asks the library not to turn the cache on."""
    return os.environ.get(ENV_NO_CACHE, "").strip().lower() not in ("", "0", "false", "no", "off")


def enable_compilation_cache() -> str | None:
    """Keep compiled XLA programs on disk, so a rerun or a resumed run skips recompiling the supernet.

    The folder is ``$JAX_COMPILATION_CACHE_DIR`` (or whatever ``jax_compilation_cache_dir`` already holds)
    when set, else ``~/.cache/shapley-nas-jax/xla``. Returns the folder in use, or None when the cache is
    off (``SHAPLEY_NAS_NO_COMPILATION_CACHE=1``, or ``jax_enable_compilation_cache`` set to False).
    Idempotent; cheap enough to call from every entry point.
    """
    import jax

    if cache_opted_out() or not jax.config.jax_enable_compilation_cache:
        return None
    if not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", default_cache_dir())
    return jax.config.jax_compilation_cache_dir


# XLA:CPU flags that shorten compiles of the small programs tests and smoke runs build: the older
# (non-MLIR) fusion emitters. Measured on the test suite's search steps (AVX2 EPYC, with
# jax_disable_most_optimizations): 22-32 % less time per compile-bound test (BENCHMARKS.md, "Test suite").
FAST_COMPILE_XLA_FLAGS = ("--xla_cpu_use_fusion_emitters=false",)


def use_fast_compile() -> None:
    """Compile for speed of compiling, not of the program: ``jax_disable_most_optimizations`` and
    :data:`FAST_COMPILE_XLA_FLAGS` (added to ``$XLA_FLAGS``, which child processes inherit). XLA reads its
    flags when JAX's CPU backend starts, so the flags take effect only if that has not happened yet in this
    process (call this before the first computation); the JAX option takes effect at once."""
    import jax

    flags = os.environ.get("XLA_FLAGS", "").split()
    names = {flag.split("=")[0] for flag in flags}
    flags += [flag for flag in FAST_COMPILE_XLA_FLAGS if flag.split("=")[0] not in names]
    os.environ["XLA_FLAGS"] = " ".join(flags)
    jax.config.update("jax_disable_most_optimizations", True)


def add_compile_options(parser, cache_option: bool = False) -> None:
    """Add ``--fast-compile`` (and, with ``cache_option``, ``--cache``) to a script's argparse parser.

    ``--fast-compile`` (:func:`use_fast_compile`) sets ``jax_disable_most_optimizations`` and XLA:CPU's
    faster-compiling emitters: XLA compiles much sooner but the programs run slower, for checking that a script
    runs (tests), never for its timings. ``--cache`` turns the persistent compilation cache on in a script that
    otherwise compiles cold. :func:`apply_compile_options` applies them.
    """
    parser.add_argument("--fast-compile", action="store_true",
                        help="jax_disable_most_optimizations: quicker compiles, slower programs (for tests)")
    if cache_option:
        parser.add_argument("--cache", action="store_true",
                            help="use the persistent compilation cache (default: off, compile times are cold)")


def apply_compile_options(args, cache: bool | None = None) -> None:
    """Apply :func:`add_compile_options`' options before anything is compiled.

    ``cache``: True turns the persistent compilation cache on, False off (cold compiles, even with
    ``$JAX_COMPILATION_CACHE_DIR`` set), None (default) follows ``args.cache``, or leaves it alone without it.
    """
    import jax

    if args.fast_compile:
        use_fast_compile()
    cache = getattr(args, "cache", None) if cache is None else cache
    if cache:
        enable_compilation_cache()
    elif cache is not None:
        jax.config.update("jax_enable_compilation_cache", False)
