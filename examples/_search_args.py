"""The command line the search examples share: ``--epochs``, ``--warmup``, ``--formulation``, ``--fast-compile``."""

import argparse

from shapley_nas_jax.compilation_cache import add_compile_options, apply_compile_options


def search_parser(doc: str, epochs: int = 3) -> argparse.ArgumentParser:
    """A parser described by the first line of ``doc``, with the search options; add your own to it."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--formulation", default="auto", choices=["auto", "lax", "shifted"],
                        help="the supernet's op arithmetic in training and scoring (model.formulation and "
                             "shapley.formulation; auto: by backend and space)")
    add_compile_options(parser)
    return parser


def parse_search_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Parse ``argv``; ``--fast-compile`` takes effect here, before anything is compiled."""
    args = parser.parse_args(argv)
    apply_compile_options(args)
    return args


def with_search_args(config, args: argparse.Namespace):
    """``config`` with ``--epochs``, ``--warmup`` and ``--formulation`` applied."""
    config.train.epochs, config.search.warmup_epochs = args.epochs, args.warmup
    config.model.formulation = config.shapley.formulation = args.formulation
    return config
