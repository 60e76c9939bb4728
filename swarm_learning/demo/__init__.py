"""Digits demo: the data, model and user program that a demo swarm trains.

Everything here runs offline: the data is scikit-learn's bundled ``load_digits()`` (1797 8x8
images, 10 classes), so ``swarm demo`` needs no download. Each learner gets a non-IID slice of
the training set (it mostly sees its own classes), which is what makes the demo meaningful: a
learner alone does clearly worse on the shared test set than the swarm does together.

Submodules:

- :mod:`swarm_learning.demo.data`: the split, the non-IID partitions and their ``.npz`` files.
- :mod:`swarm_learning.demo.model`: the MLP, its training loop (with the callback hooks) and
  evaluation.
- :mod:`swarm_learning.demo.baselines`: central and local-only accuracies to compare with.
- :mod:`swarm_learning.demo.train_digits`: the program each learner node runs.

This package deliberately imports nothing eagerly: the orchestration side (writing partitions)
should not pay for importing torch, and the learner side imports what it uses.
"""
