"""Loading an ensemble artifact (`tunelab ensemble`) as a Predictor like any other.

The members' artifacts lie in ``members/0``, ``members/1``, ... of the ensemble's directory. Each
runs through its own backend (torch, or onnx for an exported member) on the same batch of inputs,
and the task's ``combine_outputs`` turns their outputs into one model's outputs, which the
Predictor decodes, scores and formats as usual: `tunelab evaluate`, `tunelab predict`,
`tunelab serve` and ``tunelab.load`` need nothing else.

One tokenizer for all: the members share their tokenizer files (checked when the ensemble is
built), so a batch is encoded once. Encoding per member would work for classification (combine per
text) but not for NER, whose outputs are per sub-word and only line up under one tokenizer; one
encoding keeps a single code path for every task. The inputs are cut at the shortest member's
``max_length``, so every member takes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tunelab.artifact import META_FILE, ArtifactError, ArtifactMeta
from tunelab.errors import ArtifactLoadError

COMBINE_MODES = ("mean", "vote", "weighted")
MEMBERS_DIR = "members"


def hook_mode(combine: str) -> str:
    """The task hook's mode for a ``--combine`` mode: "weighted" is the mean with tuned weights."""
    return "vote" if combine == "vote" else "mean"


class EnsembleMember(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())

    path: str  # relative to the ensemble: members/<i>
    name: str | None = None  # the member's directory name when the ensemble was built


class EnsembleSpec(BaseModel):
    """``tunelab.json``'s ``ensemble`` part."""

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    combine: Literal["mean", "vote", "weighted"]
    members: list[EnsembleMember] = Field(min_length=2)
    weights: list[float]
    dev: dict[str, Any] | None = None


def ensemble_spec(path: Path, meta: ArtifactMeta) -> EnsembleSpec:
    """The validated ``ensemble`` part of an ensemble's tunelab.json; ArtifactError when damaged."""
    try:
        spec = EnsembleSpec.model_validate(meta.get("ensemble"))
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()[:3])
        raise ArtifactError(
            f"{path / META_FILE}: its ensemble part is not valid ({problems}); the artifact is damaged"
        ) from None
    if len(spec.weights) != len(spec.members) or any(w < 0 for w in spec.weights) or sum(spec.weights) <= 0:
        raise ArtifactError(
            f"{path / META_FILE}: the ensemble has {len(spec.members)} members but weights {spec.weights}; "
            "the artifact is damaged"
        )
    for member in spec.members:
        parts = Path(member.path).parts
        if Path(member.path).is_absolute() or not parts or parts[0] != MEMBERS_DIR or ".." in parts:
            raise ArtifactError(f"{path / META_FILE}: member path {member.path!r} is not under {MEMBERS_DIR}/")
    return spec


def member_dirs(path: Path, spec: EnsembleSpec) -> list[Path]:
    return [Path(path) / member.path for member in spec.members]


class EnsembleBackend:
    """The members' backends on the same inputs, combined by the task (weights summing to 1)."""

    name = "ensemble"
    model = None  # no single torch model (serve's --dtype, export need one)

    def __init__(self, members: Sequence[Any], task: Any, weights: Sequence[float], combine: str) -> None:
        self.members = list(members)
        self.task = task
        total = float(sum(weights))
        self.weights = [float(w) / total for w in weights]
        self.combine = combine
        self.predictors: list[Any] = []  # the members' own Predictors, when loaded from an artifact

    def member_outputs(self, inputs: dict[str, Any]) -> list[dict[str, Any]]:
        return [member(inputs) for member in self.members]

    def combine_outputs(
        self, outputs_list: Sequence[dict[str, Any]], weights: Sequence[float] | None = None
    ) -> dict[str, Any]:
        return self.task.combine_outputs(
            outputs_list, self.weights if weights is None else list(weights), hook_mode(self.combine)
        )

    def __call__(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return self.combine_outputs(self.member_outputs(inputs))


def load_ensemble(
    predictor_class: Any,
    path: str | Path,
    meta: ArtifactMeta,
    *,
    backend: str | None = None,
    device: str | None = None,
    batch_size: int = 64,
) -> Any:
    """A Predictor of the ensemble in ``path``: each member loaded as an artifact of its own
    (``backend``: None lets each pick its own, as for any artifact), the first member's tokenizer."""
    from tunelab.config import parse_task_config
    from tunelab.tasks import task_from_state

    path = Path(path)
    spec = ensemble_spec(path, meta)
    task = task_from_state(parse_task_config(meta.task.config), meta.task.state)
    predictors = []
    for directory in member_dirs(path, spec):
        if not (directory / META_FILE).is_file():
            raise ArtifactLoadError(
                f"{path} is an ensemble without its member {directory.relative_to(path)} ({directory}); the "
                "artifact is incomplete: copy the whole directory again or rebuild it with `tunelab ensemble`"
            )
        predictors.append(
            predictor_class.from_artifact(directory, backend=backend, device=device, batch_size=batch_size)
        )
    runner = EnsembleBackend([p.backend for p in predictors], task, spec.weights, spec.combine)
    runner.predictors = predictors
    return predictor_class(runner, predictors[0].tokenizer, task, meta, batch_size=batch_size)
