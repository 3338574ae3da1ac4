"""The ``task.out_of_scope`` section (pydantic only: reading a config stays cheap). docs/out-of-scope.md."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tunelab.config_base import Section

SCORERS = ("none", "msp", "energy", "mahalanobis", "knn", "auto")
FEATURE_SCORERS = ("mahalanobis", "knn")


class OutOfScopeConfig(Section):
    """Out-of-scope detection: texts that belong to none of the labels get ``label`` instead."""

    label: str = Field(
        "oos", min_length=1, description="Marks out-of-scope rows in dev/test files and names them in predictions."
    )
    scorer: Literal["none", "msp", "energy", "mahalanobis", "knn", "auto"] = Field(
        "none",
        description="none (off); msp: 1 - the top probability; energy: -logsumexp of the logits; mahalanobis: "
        "distance of the pooled features to the nearest class mean; knn: cosine distance to the k-th nearest "
        "training text; auto: the best dev AUROC (dev rows labelled out-of-scope), else mahalanobis.",
    )
    threshold: float | None = Field(
        None, description="A text whose score is above this is out-of-scope; null: tuned on dev."
    )
    objective: Literal["accuracy", "balanced"] = Field(
        "accuracy",
        description="The threshold tuned on dev rows labelled out-of-scope maximises: accuracy, the share of all "
        "dev rows handled right (the dev mix weighs as in use); balanced: (in-scope accuracy + out-of-scope "
        "recall) / 2 (catches more out-of-scope texts, rejects more in-scope ones).",
    )
    in_scope_recall: float = Field(
        0.95,
        gt=0.0,
        lt=1.0,
        description="Without out-of-scope dev rows, the threshold keeps this share of the in-scope dev texts.",
    )
    knn_k: int = Field(10, ge=1, description="knn: the k of the k-th nearest training text.")
