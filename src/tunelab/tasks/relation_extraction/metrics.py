"""Relation metrics: micro/macro F1 without the no-relation label, and the official SemEval-2010
Task 8 score.

The official score is what the task's perl scorer (semeval2010_task8_scorer-v1.2.pl) reports as
"(9+1)-way evaluation with directionality taken into account": per relation (direction stripped,
``Other`` excluded), precision = predictions with the exact directed gold label / every prediction
of that relation in either direction, recall = the same / gold examples of that relation in either
direction; F1 per relation; the macro average over the relations in the gold data. Written here
because the scorer is a perl script; tests check it against hand-computed cases.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from tunelab.tasks.text_classification.metrics import classification_metrics

METRIC_DIRECTIONS = {
    "micro_f1": "max",
    "macro_f1": "max",
    "accuracy": "max",
    "micro_precision": "max",
    "micro_recall": "max",
    "loss": "min",
}
OFFICIAL_DIRECTIONS = {**METRIC_DIRECTIONS, "official_f1": "max", "official_micro_f1": "max"}

SEMEVAL_RELATIONS = (
    "Cause-Effect",
    "Component-Whole",
    "Content-Container",
    "Entity-Destination",
    "Entity-Origin",
    "Instrument-Agency",
    "Member-Collection",
    "Message-Topic",
    "Product-Producer",
)
SEMEVAL_OTHER = "Other"
SEMEVAL_LABELS = frozenset(
    [SEMEVAL_OTHER] + [f"{r}({a},{b})" for r in SEMEVAL_RELATIONS for a, b in (("e1", "e2"), ("e2", "e1"))]
)
NO_RELATION_NAMES = ("Other", "NA", "no_relation", "unknown")
_DIRECTION = re.compile(r"\(e[12],e[12]\)$")


def is_semeval(labels: Sequence[str]) -> bool:
    """Every label is one of SemEval-2010 Task 8's 19 and at least one is a directed relation."""
    return bool(labels) and set(labels) <= SEMEVAL_LABELS and any(label != SEMEVAL_OTHER for label in labels)


def detect_no_relation(labels: Sequence[str]) -> str | None:
    """The no-relation label among the labels: Other, NA, no_relation or unknown (in that order,
    any case), else None."""
    lowered = {label.lower(): label for label in labels}
    for name in NO_RELATION_NAMES:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


def relation_of(label: str) -> str:
    """``Cause-Effect(e2,e1)`` -> ``Cause-Effect``."""
    return _DIRECTION.sub("", label)


def _f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def semeval_official(gold: Sequence[str], predicted: Sequence[str], other: str = SEMEVAL_OTHER) -> dict[str, Any]:
    """The SemEval-2010 Task 8 official scores (scale 0-1; the perl scorer prints percentages)."""
    correct: Counter[str] = Counter()
    proposed: Counter[str] = Counter()  # predictions of a relation, either direction
    gold_count: Counter[str] = Counter()
    wrong_direction: Counter[str] = Counter()
    for g, p in zip(gold, predicted):
        g_rel, p_rel = relation_of(g), relation_of(p)
        gold_count[g_rel] += 1
        proposed[p_rel] += 1
        if g == p:
            correct[g_rel] += 1
        elif g_rel == p_rel:
            wrong_direction[g_rel] += 1
    per_relation: dict[str, dict[str, Any]] = {}
    for rel in sorted(gold_count):
        if rel == other:
            continue
        precision = correct[rel] / proposed[rel] if proposed[rel] else 0.0
        recall = correct[rel] / gold_count[rel]
        per_relation[rel] = {
            "precision": precision,
            "recall": recall,
            "f1": _f1(precision, recall),
            "correct": correct[rel],
            "predicted": proposed[rel],
            "wrong_direction": wrong_direction[rel],
            "support": gold_count[rel],
        }
    n = len(per_relation)
    micro_correct = sum(v["correct"] for v in per_relation.values())
    micro_predicted = sum(v["predicted"] for v in per_relation.values())
    micro_gold = sum(v["support"] for v in per_relation.values())
    micro_p = micro_correct / micro_predicted if micro_predicted else 0.0
    micro_r = micro_correct / micro_gold if micro_gold else 0.0
    return {
        "official_f1": sum(v["f1"] for v in per_relation.values()) / n if n else 0.0,
        "official_precision": sum(v["precision"] for v in per_relation.values()) / n if n else 0.0,
        "official_recall": sum(v["recall"] for v in per_relation.values()) / n if n else 0.0,
        "official_micro_f1": _f1(micro_p, micro_r),
        "official_per_relation": per_relation,
        "wrong_direction": int(sum(wrong_direction.values())),
    }


def relation_metrics(
    gold: Sequence[int], predicted: Sequence[int], labels: Sequence[str], *, no_relation: str | None, semeval: bool
) -> dict[str, Any]:
    """Accuracy, per-label scores and the confusion matrix over every (directed) label; micro and
    macro precision/recall/F1 over the relation labels only (``no_relation`` excluded: predicting it
    is predicting nothing); macro over the relation labels present in gold or predictions. With
    ``semeval``, the official scores too."""
    from sklearn.metrics import precision_recall_fscore_support

    result = classification_metrics(gold, predicted, labels)
    y, p = np.asarray(gold, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    na = labels.index(no_relation) if no_relation in labels else -1
    true_rel, pred_rel = y != na, p != na
    tp = int(((y == p) & true_rel).sum())
    micro_p = tp / int(pred_rel.sum()) if pred_rel.any() else 0.0
    micro_r = tp / int(true_rel.sum()) if true_rel.any() else 0.0
    present = sorted({int(v) for v in np.concatenate([y, p]) if v != na})
    if present:
        mp, mr, mf, _ = precision_recall_fscore_support(y, p, labels=present, average="macro", zero_division=0)
    else:
        mp = mr = mf = 0.0
    for key in list(result):
        if key.startswith(("micro_", "macro_", "weighted_")):
            del result[key]
    result.update(
        micro_precision=float(micro_p),
        micro_recall=float(micro_r),
        micro_f1=float(_f1(micro_p, micro_r)),
        macro_precision=float(mp),
        macro_recall=float(mr),
        macro_f1=float(mf),
        no_relation=no_relation,
    )
    if semeval:
        result.update(semeval_official([labels[i] for i in y], [labels[i] for i in p]))
    return result
