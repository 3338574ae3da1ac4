"""The `training` section: the loop's settings, early stopping, checkpoints, trackers (see tunelab.config)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from tunelab.config_base import Section


class EarlyStoppingConfig(Section):
    patience: int | None = Field(3, ge=1, description="Evaluations without improvement before stopping; null disables.")
    min_delta: float = Field(0.0, ge=0.0)


class CheckpointConfig(Section):
    """Periodic checkpoints of the whole training state (weights, optimizer, schedule, RNG, counters),
    besides the one written at every evaluation and on SIGINT/SIGTERM. A run killed without warning
    (SIGKILL, power loss) resumes from the newest one."""

    every_steps: int | None = Field(500, ge=1, description="Write a checkpoint every N optimizer steps; null: never.")
    every_minutes: float | None = Field(
        10.0, gt=0, description="Write a checkpoint when this many minutes passed since the last; null: never."
    )
    keep: int = Field(2, ge=1, description="How many of the newest checkpoints are kept (older ones are deleted).")


AdversarialName = Literal["none", "fgm", "pgd", "freelb"]
# Defaults per method (the sources are in tunelab/training/techniques/adversarial.py): the keys a
# method does not use are absent and may not be set. FreeLB's epsilon 0 means no projection.
ADVERSARIAL_DEFAULTS: dict[str, dict[str, float | int]] = {
    "none": {},
    "fgm": {"epsilon": 1.0},
    "pgd": {"epsilon": 1.0, "alpha": 0.3, "steps": 3, "init": 0.0},
    "freelb": {"epsilon": 0.0, "alpha": 0.03, "steps": 3, "init": 0.05},
}


class AdversarialConfig(Section):
    """Adversarial training on the input embeddings (docs/techniques.md): the output of the
    model's input embedding module is perturbed along the loss gradient. Unset keys take the
    method's defaults (``ADVERSARIAL_DEFAULTS``); ``training.adversarial: fgm`` is short for
    ``{name: fgm}``."""

    name: AdversarialName = Field("none", description="none, fgm (Miyato 2017), pgd (Madry 2018), freelb (Zhu 2020).")
    epsilon: float | None = Field(
        None, ge=0, description="Largest L2 norm of one example's perturbation (FreeLB: 0 = unbounded)."
    )
    alpha: float | None = Field(None, gt=0, description="PGD/FreeLB: the L2 size of one ascent step.")
    steps: int | None = Field(None, ge=1, description="PGD/FreeLB: ascent steps (forward/backward passes) per batch.")
    init: float | None = Field(None, ge=0, description="PGD/FreeLB: norm of the random starting perturbation.")

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if data is None:
            return {"name": "none"}
        if isinstance(data, str):  # `adversarial: fgm`, `--set training.adversarial=fgm`
            data = {"name": data.strip().lower()}
        if not isinstance(data, dict):
            return data
        data = dict(data)
        name = str(data.get("name") or "none").strip().lower()
        defaults = ADVERSARIAL_DEFAULTS.get(name)
        if defaults is None:
            return data  # the Literal names the choices
        data["name"] = name
        unused = [
            key for key in ("epsilon", "alpha", "steps", "init") if key not in defaults and data.get(key) is not None
        ]
        if unused:
            raise ValueError(
                f"training.adversarial.{unused[0]} is not used by adversarial training '{name}' "
                f"(it takes {', '.join(defaults) or 'no settings'}); remove it"
            )
        for key, value in defaults.items():
            if data.get(key) is None:
                data[key] = value
        if name in ("fgm", "pgd") and not float(data["epsilon"]) > 0:
            raise ValueError(f"training.adversarial.epsilon must be > 0 for {name} (got {data['epsilon']})")
        return data


StrategyName = Literal["auto", "standard", "contrastive"]


class ContrastiveConfig(Section):
    """``training.strategy: contrastive`` (docs/few-shot.md): SetFit's recipe. Stage 1 fine-tunes the
    body on pairs of training texts (same label: similar; other labels: dissimilar), a bounded number
    per epoch; stage 2 fits a logistic regression on the texts' embeddings and copies it into the
    classification head. Defaults are SetFit's (num_iterations 20, batch 16, body rate 2e-5, one epoch,
    CosineSimilarityLoss, LogisticRegression with C=1)."""

    loss: Literal["cosine", "mnr"] = Field(
        "cosine",
        description="cosine: (cosine similarity - 1 or 0)^2 on positive and negative pairs (SetFit's "
        "CosineSimilarityLoss); mnr: in-batch negatives (sentence-transformers' MultipleNegativesRankingLoss, "
        "texts of the same label never count as negatives).",
    )
    iterations: int = Field(
        20,
        ge=1,
        description="Per epoch, each training text anchors this many positive pairs (cosine: and as many "
        "negative ones), as SetFit's num_iterations; capped by max_pairs.",
    )
    max_pairs: int = Field(
        50_000, ge=1, description="At most this many pairs per epoch whatever the data size (time and memory bound)."
    )
    epochs: float = Field(1, gt=0, description="Passes over the sampled pairs (each epoch draws new pairs).")
    batch_size: int = Field(16, ge=2, description="Pairs per step.")
    learning_rate: float | None = Field(
        None,
        gt=0,
        description="Stage 1's learning rate; null: 2e-5 with full fine-tuning (SetFit's body rate), the "
        "method's own rate with the others (method.learning_rate).",
    )
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    scale: float = Field(20.0, gt=0, description="mnr: the cosine similarities are multiplied by this (temperature).")
    head: Literal["logistic"] = Field(
        "logistic", description="Stage 2: scikit-learn's LogisticRegression on the normalised embeddings."
    )
    head_c: float | Literal["auto"] = Field(
        "auto",
        description="The logistic regression's inverse regularisation strength C; auto: chosen from 0.1, 1, 10, "
        "100 by cross-validation on the training texts' embeddings (scikit-learn's 1.0 underfits many labels).",
    )

    @field_validator("head_c")
    @classmethod
    def _positive_c(cls, value: float | str) -> float | str:
        if value != "auto" and float(value) <= 0:
            raise ValueError("head_c must be > 0 (or auto)")
        return value

    end_to_end: bool = Field(
        False,
        description="After the head is fitted, also train the whole model with the standard loop "
        "(training.epochs, training.learning_rate and the other training keys).",
    )
    auto_max_per_label: float = Field(
        16,
        gt=0,
        description="training.strategy auto: contrastive when the training split has at most this many "
        "examples per label on average.",
    )


TRACKERS = ("tensorboard", "wandb", "mlflow")
TrackerName = Literal["tensorboard", "wandb", "mlflow"]


def _default_trackers() -> list[TrackerName]:
    return ["tensorboard"]


class TrackingConfig(Section):
    """Where the trackers of ``training.trackers`` write (see docs/tracking.md)."""

    project: str = Field("tunelab", min_length=1, description="The W&B project and the MLflow experiment.")
    run_name: str | None = Field(None, description="The run's name in every tracker; default: the output directory's.")
    offline: bool = Field(
        True,
        description="W&B offline into <out>/logs/wandb and MLflow to the file store <out>/logs/mlruns; false: W&B "
        "online (after `wandb login`) and MLflow to MLFLOW_TRACKING_URI when it is set.",
    )


class TrainingConfig(Section):
    epochs: float = Field(5, gt=0)
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int = Field(64, ge=1)
    learning_rate: float = Field(1e-4, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.06, ge=0, lt=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    max_grad_norm: float | None = Field(1.0, gt=0)
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    seed: int = 42
    eval_steps: int | None = Field(None, ge=1, description="Evaluate every N optimizer steps; null: each epoch.")
    metric: str | None = Field(
        None,
        description="Dev metric that picks the best checkpoint and drives early stopping; default: the task's "
        "own (`tunelab init TASK` lists the choices).",
    )
    early_stopping: EarlyStoppingConfig = Field(default_factory=EarlyStoppingConfig)
    length_buckets: bool = Field(True, description="Batch texts of similar length together (less padding).")
    lazy_embeddings: bool = Field(
        True,
        description="Update only the rows of the input embedding matrix a batch used (sparse gradient, lazy "
        "AdamW); false: the whole matrix every step. One process only (several: always dense).",
    )
    fast_dropout: bool = Field(
        True,
        description="On CPUs, draw dropout masks (attention's too) from a fast generator (the same distribution, "
        "reproducible from the seed); false: torch's own dropout.",
    )
    log_every: int = Field(20, ge=1, description="Optimizer steps between loss log lines.")
    num_threads: int | None = Field(None, ge=1, description="torch intra-op threads; default: torch's choice.")
    gradient_checkpointing: bool = Field(
        False,
        description="Recompute each layer's activations in the backward pass instead of keeping them: "
        "much less memory for long texts and large models, about a third more compute.",
    )
    trackers: list[TrackerName] = Field(
        default_factory=_default_trackers,
        description="Experiment trackers that record the config, the metrics and the plots: tensorboard, wandb, "
        "mlflow (the last two: pip install 'tunelab[tracking]'); [] for none.",
    )
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    tensorboard: bool | None = Field(
        None, description="Deprecated, use training.trackers: false drops tensorboard from them, true adds it."
    )
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    # -- techniques against overfitting and for robustness (tunelab/training/techniques, docs/techniques.md)
    adversarial: AdversarialConfig = Field(default_factory=AdversarialConfig)
    rdrop: float = Field(
        0.0, ge=0, description="R-Drop: weight of the divergence between two dropout passes of each batch; 0: off."
    )
    ema: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Decay of an exponential moving average of the trained weights (e.g. 0.999), used for "
        "evaluation, the best checkpoint and the artifact; null: off.",
    )
    layer_decay: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Layer-wise learning-rate decay: layer i of L gets learning_rate * layer_decay**(L - i), "
        "the embeddings layer_decay**(L + 1), the head the full rate; 1.0: off.",
    )
    label_smoothing: float = Field(
        0.0, ge=0, lt=1, description="Label smoothing of the task's loss (classification tasks); 0: off."
    )
    # -- few-shot (tunelab/training/strategies, docs/few-shot.md)
    strategy: StrategyName = Field(
        "auto",
        description="standard: the loop on the task's loss; contrastive: few-shot contrastive training of the "
        "body, then a fitted head (training.contrastive); auto: contrastive when the task supports it and the "
        "training split has few examples per label (training.contrastive.auto_max_per_label), else standard.",
    )
    contrastive: ContrastiveConfig = Field(default_factory=ContrastiveConfig)

    @field_validator("trackers", mode="before")
    @classmethod
    def _tracker_list(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):  # `trackers: wandb` or `--set training.trackers=wandb,mlflow`
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            return list(dict.fromkeys(value))  # each once, in the order given
        return value

    @model_validator(mode="before")
    @classmethod
    def _tensorboard_alias(cls, data: Any) -> Any:
        """The old ``tensorboard: bool`` becomes the ``tensorboard`` entry of ``trackers`` (and is then unset)."""
        if not isinstance(data, dict) or data.get("tensorboard") is None:
            return data
        data = dict(data)
        flag = data.pop("tensorboard")
        if isinstance(flag, str) and flag.strip().lower() in ("true", "false"):
            flag = flag.strip().lower() == "true"
        if not isinstance(flag, bool):
            raise ValueError("training.tensorboard must be true or false (better: list it in training.trackers)")
        trackers = cls._tracker_list(data.get("trackers", ["tensorboard"]))
        if "trackers" in data and isinstance(trackers, list) and "tensorboard" in trackers and not flag:
            raise ValueError(
                f"training.tensorboard: false contradicts training.trackers: {trackers}; "
                "drop training.tensorboard (deprecated) and list the trackers in training.trackers"
            )
        if isinstance(trackers, list):
            trackers = [t for t in trackers if t != "tensorboard"] + (["tensorboard"] if flag else [])
        data["trackers"] = trackers
        return data
