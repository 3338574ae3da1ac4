"""The `tune` section: the search space and settings of `tunelab tune` (hyper-parameter search on optuna).

Not a training setting: a plain `tunelab train` ignores it, and it never counts as a change when an
interrupted run is resumed (tunelab.workflow.resume).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from tunelab.config_base import Section


class ParamSpace(Section):
    """One searched key: a range (``low``, ``high``, ``log``, ``step``) or a list of ``choices``."""

    low: int | float | None = Field(None, description="Lower end of the range (both ends integers: integer values).")
    high: int | float | None = Field(None, description="Upper end of the range (inclusive).")
    log: bool = Field(False, description="Sample the range on a log scale (learning rates); needs low > 0.")
    step: int | float | None = Field(None, gt=0, description="Grid step inside the range; not with log.")
    choices: list[Any] | None = Field(None, min_length=1, description="Values to choose from instead of a range.")

    @field_validator("low", "high", mode="before")
    @classmethod
    def _keep_integers(cls, value: Any) -> Any:
        # `low: 1` stays an int (an integer range: epochs, batch size); YAML's `1e-5` is a string
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return value
        return value

    @model_validator(mode="after")
    def _range_or_choices(self) -> ParamSpace:
        ranged = self.low is not None or self.high is not None
        if self.choices is not None:
            if ranged or self.log or self.step is not None:
                raise ValueError("give either choices or a range (low, high, log, step), not both")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give a range with both low and high, or a list of choices")
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"log: true needs low > 0 (got {self.low})")
        if self.log and self.step is not None:
            raise ValueError("log and step cannot be combined")
        return self

    @property
    def is_int(self) -> bool:
        """An integer range: both ends written as integers, and an integer step if any."""
        ends = (self.low, self.high) + ((self.step,) if self.step is not None else ())
        return self.choices is None and all(isinstance(v, int) and not isinstance(v, bool) for v in ends)

    def describe(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude_defaults=True) | (
            {} if self.choices is not None else {"low": self.low, "high": self.high}
        )


class TuneConfig(Section):
    space: dict[str, ParamSpace] = Field(
        default_factory=dict,
        description="Dotted config key -> {low, high, log} or {choices: [...]}; empty: the default space of the "
        "method (docs/tuning.md).",
    )
    metric: str | None = Field(
        None, description="Dev metric the search optimises (its direction is the task's); default: training.metric."
    )
    sampler: Literal["tpe", "random", "grid"] = Field(
        "tpe",
        description="tpe (optuna's default), random, or grid (every combination of choices; choices only). "
        "Seeded from training.seed.",
    )
    pruner: Literal["median", "none"] = Field(
        "median",
        description="median: stop a trial whose dev metric is worse than the median of earlier trials at the same "
        "evaluation (from the third trial and the second evaluation on); none: every trial runs to the end.",
    )
    trials: int = Field(20, ge=1, description="Trials in all (finished or pruned); --trials overrides it.")

    @field_validator("space", mode="before")
    @classmethod
    def _empty_space(cls, value: Any) -> Any:
        return {} if value is None else value
