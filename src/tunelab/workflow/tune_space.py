"""The search space of `tunelab tune`: ``tune.space`` or the method's default, checked against the
config, sampled by optuna and applied to a trial's config as ``--set`` overrides."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tunelab.config import TunelabConfig, flatten, load_config
from tunelab.config_tune import ParamSpace
from tunelab.errors import ConfigError


@dataclass
class Search:
    """What the study optimises: the dev metric, its direction ("max"/"min") and the space."""

    metric: str
    direction: str
    space: dict[str, ParamSpace]

    @property
    def optuna_direction(self) -> Literal["maximize", "minimize"]:
        return "maximize" if self.direction == "max" else "minimize"

    def better(self, a: float, b: float | None) -> bool:
        return b is None or (a > b if self.direction == "max" else a < b)


def trains_at_training_rate(config: TunelabConfig) -> bool:
    """Whether the method trains at ``training.learning_rate`` (full fine-tuning), not at a rate of its
    own (``method.learning_rate`` or the method's measured default)."""
    effective = getattr(config.method, "effective_learning_rate", None)
    return effective is None or effective(1.0) == 1.0


def default_space(config: TunelabConfig) -> dict[str, ParamSpace]:
    """The space searched when ``tune.space`` is empty, per method (docs/tuning.md)."""
    keys = flatten(config.to_dict())
    method = config.method.name
    lr_key = "training.learning_rate" if trains_at_training_rate(config) else "method.learning_rate"
    if method != "full":
        # peft methods, frozen layers, adapters: their own learning rate, near their measured default
        space = {lr_key: ParamSpace(low=1e-4, high=3e-2, log=True)}
        rank = "method.r" if "method.r" in keys else "method.target_r" if method == "adalora" else None
        if rank:
            space[rank] = ParamSpace(choices=[8, 16, 32])
        return space
    return {
        # 5e-5 and up: on BANKING77 with 2 epochs, rates of 2-4e-5 reached 0.49-0.65 against 0.91 at 2-5e-4
        lr_key: ParamSpace(low=5e-5, high=5e-4, log=True),
        "training.batch_size": ParamSpace(choices=[16, 32]),
        "training.warmup_ratio": ParamSpace(low=0.0, high=0.1),
        "training.weight_decay": ParamSpace(low=0.0, high=0.1),
    }


def resolve_search(config: TunelabConfig) -> Search:
    """The metric (``tune.metric``, else ``training.metric``, else the task's), its direction and the space."""
    from tunelab.tasks import task_class

    task = task_class(config.task.name)
    metric = config.tune.metric or config.training.metric or task.default_metric
    directions = task.metric_directions
    if metric not in directions:
        option = "tune.metric" if config.tune.metric else "training.metric"
        raise ConfigError(
            f"{option} '{metric}' is not a metric of {config.task.name}; choose one of {', '.join(sorted(directions))}"
        )
    return Search(metric, directions[metric], dict(config.tune.space) or default_space(config))


def format_value(value: Any) -> str:
    """A value as ``--set`` takes it (YAML): floats always read back as floats (``1e-05`` alone is a
    string in YAML 1.1), lists and strings as JSON."""
    if isinstance(value, float):
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent if exponent[0] in '+-' else '+' + exponent}"
        return text
    return json.dumps(value)


def check_space(config_path: str | Path | None, overrides: list[str], config: TunelabConfig, search: Search) -> None:
    """Every key names a setting of this config, and every end or choice is a valid value for it:
    a typo fails now, naming the key, not at the first trial."""
    keys = flatten(config.to_dict())
    for key, spec in search.space.items():
        if key.split(".")[0] in ("tune", "output"):
            raise ConfigError(f"tune.space: '{key}' cannot be searched (tune and output are not training settings)")
        if key not in keys:
            import difflib

            guess = difflib.get_close_matches(key, list(keys), n=1)
            hint = f"; did you mean '{guess[0]}'?" if guess else ""
            raise ConfigError(f"tune.space: unknown config key '{key}'{hint}")
        if key == "training.learning_rate" and not trains_at_training_rate(config):
            raise ConfigError(
                f"tune.space: method {config.method.name} trains at its own rate, not at training.learning_rate; "
                "search method.learning_rate instead"
            )
        if config.tune.sampler == "grid" and spec.choices is None:
            raise ConfigError(f"tune.sampler grid needs choices for every key; tune.space.{key} is a range")
        values = spec.choices if spec.choices is not None else [spec.low, spec.high]
        for value in values:
            try:
                load_config(config_path, overrides + [f"{key}={format_value(value)}"])
            except ConfigError as err:
                raise ConfigError(f"tune.space.{key}: the value {value!r} is not valid here:\n{err}") from None


def suggest(trial: Any, key: str, spec: ParamSpace) -> Any:
    if spec.choices is not None:
        if all(v is None or isinstance(v, (bool, int, float, str)) for v in spec.choices):
            return trial.suggest_categorical(key, spec.choices)
        # optuna's categorical values are scalars: lists (target_modules) travel as JSON text
        return json.loads(trial.suggest_categorical(key, [json.dumps(v) for v in spec.choices]))
    low, high = spec.low, spec.high
    assert low is not None and high is not None  # a range (ParamSpace checks it)
    if spec.is_int:
        return trial.suggest_int(key, int(low), int(high), step=int(spec.step or 1), log=spec.log)
    return trial.suggest_float(key, float(low), float(high), step=spec.step, log=spec.log)


def trial_overrides(config: TunelabConfig, values: dict[str, Any], search: Search) -> list[str]:
    """The ``--set`` overrides of one trial: the sampled values, the tune metric as the metric that
    picks each trial's best checkpoint, and what a method needs to stay valid (AdaLoRA starts from
    at least its target rank: peft's budget schedule fails otherwise)."""
    values = dict(values)
    if config.method.name == "adalora" and "method.target_r" in values:
        init_r = values.get("method.init_r", getattr(config.method, "init_r", 0))
        if init_r < values["method.target_r"]:
            values["method.init_r"] = math.ceil(1.5 * values["method.target_r"])
    extra = {"training.metric": search.metric} if search.metric != config.training.metric else {}
    return [f"{key}={format_value(value)}" for key, value in {**values, **extra}.items()]


def grid_values(spec: ParamSpace) -> list[Any]:
    choices = spec.choices or []
    scalar = all(v is None or isinstance(v, (bool, int, float, str)) for v in choices)
    return list(choices) if scalar else [json.dumps(v) for v in choices]


def grid_size(search: Search) -> int:
    return math.prod(len(spec.choices or []) for spec in search.space.values())
