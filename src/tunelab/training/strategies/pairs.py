"""Pairs of training texts for contrastive training, drawn at random with a fixed budget.

SetFit's first releases generated pairs per text and iteration, and its later default
("oversampling") enumerates the positive and negative pairs of the data set; with many classes and
texts that is quadratic in time and memory (setfit #472 and #628: out of memory; #249: hours of
sampling with many classes). Here the number of pairs per epoch is fixed up front (SetFit's
``num_iterations`` rule, capped by ``max_pairs``) and each pair costs a few random draws: time and
memory are linear in that number plus the data (one index list per class), never in n².

A positive pair is an anchor and another text sharing one of its classes (a class with a single
text pairs it with itself, which teaches nothing but keeps the count; the text still serves as
other anchors' negative); a negative pair is the
anchor and a text of another class drawn class first, then text (so rare classes are drawn as often
as common ones), and for multi-label data retried until the two share no class. Anchors go through
the texts in a seeded random order, each as often as the budget allows.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

NEGATIVE_TRIES = 32  # multi-label: draws before giving up a negative for this anchor (all classes overlap)


def pair_budget(n_texts: int, iterations: int, max_pairs: int, *, negatives: bool) -> int:
    """Pairs per epoch: SetFit's ``num_iterations`` rule (each text anchors ``iterations`` positive
    pairs, and as many negative ones when the loss uses them), at most ``max_pairs``."""
    return min(max_pairs, iterations * n_texts * (2 if negatives else 1))


class PairSampler:
    """Seeded pair draws over ``label_sets`` (each text's class ids). Building it is linear in the
    data; :meth:`sample` is linear in the number of pairs asked for."""

    def __init__(self, label_sets: Sequence[tuple[int, ...]], seed: int) -> None:
        self.label_sets = [tuple(s) if s else (-1,) for s in label_sets]  # -1: a multi-label text without labels
        self.seed = seed
        groups: dict[int, list[int]] = {}
        for index, classes in enumerate(self.label_sets):
            for cls in classes:
                groups.setdefault(cls, []).append(index)
        self.classes = sorted(groups)
        self.members = [groups[c] for c in self.classes]
        self.position = {c: i for i, c in enumerate(self.classes)}
        self.single = all(len(s) == 1 for s in self.label_sets)

    @property
    def has_negatives(self) -> bool:
        return len(self.classes) > 1

    def sample(self, count: int, epoch: int = 0, *, negatives: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``count`` pairs for ``epoch``: (pairs (m, 2) int64, targets (m,) float32, 1 positive, 0
        negative), shuffled; the same (seed, epoch) gives the same pairs. With negatives, half are
        negative (m may fall short of ``count`` when multi-label classes overlap everywhere)."""
        rng = random.Random(self.seed * 1_000_003 + epoch)
        n = len(self.label_sets)
        negatives = negatives and self.has_negatives
        if n == 0 or count <= 0:
            return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.float32)
        pairs = np.empty((count, 2), dtype=np.int64)
        targets = np.empty(count, dtype=np.float32)
        order = list(range(n))
        rng.shuffle(order)
        filled = 0
        turn = 0
        while filled < count:
            anchor = order[turn % n]
            turn += 1
            if turn % n == 0:
                rng.shuffle(order)
            if not negatives or filled % 2 == 0:
                pairs[filled] = (anchor, self._positive(anchor, rng))
                targets[filled] = 1.0
                filled += 1
                continue
            other = self._negative(anchor, rng)
            if other is None:
                if turn > 4 * count + n:  # nothing but overlapping classes: stop short rather than loop
                    break
                continue
            pairs[filled] = (anchor, other)
            targets[filled] = 0.0
            filled += 1
        keep = np.asarray(rng.sample(range(filled), filled), dtype=np.int64)
        return pairs[:filled][keep], targets[:filled][keep]

    def _positive(self, anchor: int, rng: random.Random) -> int:
        classes = self.label_sets[anchor]
        members = self.members[self.position[classes[rng.randrange(len(classes))]]]
        if len(members) == 1:
            return anchor
        while True:  # at least half the draws succeed (two or more members)
            other = members[rng.randrange(len(members))]
            if other != anchor:
                return other

    def _negative(self, anchor: int, rng: random.Random) -> int | None:
        classes = self.label_sets[anchor]
        k = len(self.classes)
        for _ in range(NEGATIVE_TRIES if not self.single else 1):
            if self.single:  # any class but the anchor's, uniformly
                pick = rng.randrange(k - 1)
                pick += pick >= self.position[classes[0]]
            else:
                pick = rng.randrange(k)
            members = self.members[pick]
            other = members[rng.randrange(len(members))]
            if self.single or not set(classes) & set(self.label_sets[other]):
                return other
        return None

    def same_class(self, a: Sequence[int] | np.ndarray, b: Sequence[int] | np.ndarray) -> np.ndarray:
        """(len(a), len(b)) bool: text a[i] and text b[j] share a class (in-batch negatives to mask)."""
        sets_a = [set(self.label_sets[i]) for i in a]
        sets_b = [set(self.label_sets[j]) for j in b]
        return np.asarray([[bool(x & y) for y in sets_b] for x in sets_a], dtype=bool).reshape(len(a), len(b))
