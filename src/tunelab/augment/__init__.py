"""Data augmentation and perturbation, offline, reproducible from a seed (see docs/augmentation.md).

Task-neutral: the ops work on strings and token lists (:mod:`.eda` word ops, :mod:`.noise`
character noise, :mod:`.spans` tagged sentences; lexicons in :mod:`.wordnet` and
:mod:`.chinese`); a task's ``augment``/``perturb`` hooks decide which fields and tokens they touch.
Nothing heavy is imported here: WordNet and jieba load on first use.
"""

from tunelab.augment.augmenter import (
    AUGMENT_OPS,
    CHAR_OPS,
    PERTURBATIONS,
    SPAN_OPS,
    TEXT_OPS,
    WORD_OPS,
    Augmented,
    Augmenter,
    check_ops,
)

__all__ = [
    "AUGMENT_OPS",
    "CHAR_OPS",
    "PERTURBATIONS",
    "SPAN_OPS",
    "TEXT_OPS",
    "WORD_OPS",
    "Augmented",
    "Augmenter",
    "check_ops",
]
