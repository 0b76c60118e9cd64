"""Time the original PyTorch implementation of Shapley-NAS beside this project's JAX code, in the same run.

The original code is not part of this project: give a checkout of it (a directory with its
``model_search.py``, whose ``Network(C, num_classes, layers, criterion, k=K)`` is the PC-DARTS supernet and
whose ``forward(input, weights_dict=None)`` takes optional ``{'normal': [14, ops], 'reduce': [14, ops]}``
mixing weights). It is imported from that directory and run as it is; it needs ``torch``.

* :func:`time_train_step`: one weight step as its ``train_search.py`` takes it (zero_grad, forward,
  cross-entropy, backward, ``clip_grad_norm_(5)``, SGD with lr 0.1, momentum 0.9, weight decay 3e-4);
* :func:`time_evaluation`: one coalition's value evaluation as its Shapley estimate scores it (a forward
  pass under ``torch.no_grad()`` with ``weights_dict`` = softmaxed alphas times a random 0/1 mask), in eval
  mode (running batch-norm statistics, as this project's value function uses).

Both return the median wall seconds of their timed calls, after one untimed warm-up call, on random
``image_size`` x ``image_size`` images. Used by ``scripts/bench_train.py`` and ``scripts/bench_shapley.py``
(``--reference DIR``).
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import sys
import time


def check_checkout(path: str) -> str:
    """``path`` made absolute if it is a checkout of the original code (has ``model_search.py``) and torch
    is importable; else a one-line ``ValueError`` saying what is missing."""
    if not path or not os.path.isfile(os.path.join(path, "model_search.py")):
        raise ValueError(f"--reference {path!r} has no model_search.py; give a checkout of the original code")
    if importlib.util.find_spec("torch") is None:
        raise ValueError(f"--reference {path!r}: timing the original code needs torch, which is not installed")
    return os.path.abspath(path)


def load_network(checkout: str, C: int, layers: int, k: int, num_classes: int = 10):
    """The original's supernet ``model_search.Network(C, num_classes, layers, CrossEntropyLoss(), k=k)``,
    imported from ``checkout`` and built after ``torch.manual_seed(0)``."""
    import torch

    checkout = check_checkout(checkout)
    if checkout not in sys.path:
        sys.path.insert(0, checkout)
    from model_search import Network  # the original implementation's supernet

    torch.manual_seed(0)
    return Network(C, num_classes, layers, torch.nn.CrossEntropyLoss(), k=k)


def _median_time(call, repeats: int) -> float:
    call()  # warm-up
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_train_step(checkout: str, batch: int, image_size: int, C: int, layers: int, k: int, steps: int) -> float:
    """Median seconds of the original's weight step on a random batch (after one warm-up step)."""
    import torch

    model = load_network(checkout, C, layers, k)
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), 0.1, momentum=0.9, weight_decay=3e-4)
    images = torch.randn(batch, 3, image_size, image_size)
    labels = torch.randint(0, 10, (batch,))
    model.train()

    def step():
        optimizer.zero_grad()
        loss = criterion(model(images), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()

    return _median_time(step, steps)


def time_evaluation(checkout: str, batch: int, image_size: int, C: int, layers: int, k: int, evals: int) -> float:
    """Median seconds of one coalition's value evaluation by the original (a no-grad forward pass of the
    eval-mode supernet with masked mixing weights), after one warm-up evaluation; every call has its own
    random 0/1 mask."""
    import torch
    import torch.nn.functional as F

    model = load_network(checkout, C, layers, k)
    model.eval()
    images = torch.randn(batch, 3, image_size, image_size)
    with torch.no_grad():
        normal = F.softmax(model.alphas_normal, dim=-1)
        reduce = F.softmax(model.alphas_reduce, dim=-1)
        weights = [{"normal": normal * (torch.rand_like(normal) < 0.5).float(),
                    "reduce": reduce * (torch.rand_like(reduce) < 0.5).float()} for _ in range(max(1, evals) + 1)]
    calls = iter(weights)

    def evaluate():
        with torch.no_grad():
            return model(images, weights_dict=next(calls))

    return _median_time(evaluate, evals)
