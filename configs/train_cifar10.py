"""Train a genotype from scratch on CIFAR-10 with the DARTS evaluation protocol (quark0/darts cnn/train.py).

    shapley-nas train --genotype shapley_nas_cifar10 --config configs/train_cifar10.py --workdir runs/eval-c10
    shapley-nas train --genotype runs/c10-search/results.json --config configs/train_cifar10.py --workdir runs/eval

Network: C=36, 20 cells, auxiliary head (weight 0.4) after the cell at 2/3, drop path ramped linearly to 0.2.
600 epochs, batch 96, SGD lr 0.025 cosine to 0, momentum 0.9, weight decay 3e-4, gradient clipping 5,
random crop (padding 4) + flip + cutout 16, test set evaluated every epoch.
The Shapley-NAS reference train.py differs: --config.train.batch_size=64 --config.model.drop_path_prob=0.3
(and it evaluates every 3rd epoch; its classifier initialises like nn.Linear: --config.model.init=torch, reporting the best: --config.train.eval_every_epochs=3, results'
best_test_accuracy)). An NB201 arch string trains the NB201 network (16 channels, 5 cells per stage) instead.
Needs tfds `cifar10` prepared.
"""

from shapley_nas_jax.evaluation.config import base_train_config


def get_config():
    return base_train_config()
