"""`tunelab evaluate`: score an artifact on a labelled file, through the same Predictor as training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunelab.artifact import file_sha256, write_json
from tunelab.data import check_known_labels, read_examples
from tunelab.data.example import Example
from tunelab.errors import DataError
from tunelab.inference.predictor import Predictor, load


def read_for_artifact(
    predictor: Predictor,
    data: str | Path,
    *,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    label_column: str | None = None,
    require_labels: bool = True,
) -> list[Example]:
    """Read a file with the artifact's column names and label settings unless told otherwise.

    When the file lacks the columns the model was trained with, the usual names are detected.
    """
    cfg = predictor.meta["config"]["data"]
    trained = predictor.meta["data"]["columns"]
    explicit = {"text_column": text_column, "text_pair_column": text_pair_column, "label_column": label_column}
    options = dict(
        format="auto",
        label_separator=cfg.get("label_separator", "|"),
        multi_label=bool(getattr(predictor.task, "multi_label", False)),
        encoding=cfg.get("encoding", "utf-8"),
        require_labels=require_labels,
    )
    remembered = {
        "text_column": text_column or trained.get("text"),
        "text_pair_column": text_pair_column or trained.get("text_pair"),
        "label_column": label_column or (trained.get("label") if require_labels else None),
    }
    try:
        loaded = read_examples(data, **remembered, **options)
    except DataError as err:
        if "column" not in err.message or all(explicit.values()):
            raise
        loaded = read_examples(data, **explicit, **options)
    return loaded.examples


def evaluate_artifact(
    artifact: str | Path,
    data: str | Path,
    *,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    label_column: str | None = None,
    json_out: str | Path | None = None,
    batch_size: int = 64,
    device: str | None = None,
) -> dict[str, Any]:
    predictor = load(artifact, batch_size=batch_size, device=device)
    examples = read_for_artifact(
        predictor, data, text_column=text_column, text_pair_column=text_pair_column, label_column=label_column
    )
    check_known_labels(examples, predictor.labels, "evaluation data")
    report = {
        "artifact": str(Path(artifact).resolve()),
        "task": predictor.task.name,
        "evaluated_on": {"split": "file", "file": str(data), "sha256": file_sha256(data), "num_examples": len(examples)},
        "metrics": predictor.evaluate(examples),
    }
    if json_out is not None:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        write_json(report, Path(json_out))
    return report
