"""`tunelab evaluate`: score an artifact on a labelled file, through the same Predictor as training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunelab.artifact import file_sha256, write_json
from tunelab.files import check_output_file
from tunelab.inference.predictor import Predictor, load


def artifact_files(artifact: str | Path) -> list[Path]:
    """The files of an artifact directory: inputs no output may replace."""
    directory = Path(artifact)
    return sorted(p for p in directory.iterdir() if p.is_file()) if directory.is_dir() else []


def read_for_artifact(predictor: Predictor, data: str | Path, **options: Any) -> list[Any]:
    """Read a file the way the artifact's training data was read (columns, format, tag scheme),
    unless told otherwise; see the task's ``read_file``."""
    return predictor.task.read_file(data, predictor.meta, **options)


def evaluate_artifact(
    artifact: str | Path,
    data: str | Path,
    *,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    label_column: str | None = None,
    json_out: str | Path | None = None,
    html_out: str | Path | None = None,
    overwrite: bool = False,
    batch_size: int = 64,
    device: str | None = None,
    console: Any = None,
) -> dict[str, Any]:
    """The task's metrics of ``artifact`` on the labelled file ``data``; printed as the task's table
    on ``console`` when given, written to ``json_out`` when given (atomically; an existing file only
    with ``overwrite``, never the data file or a file of the artifact); ``html_out``: a self-contained
    HTML page of the metrics, the worst errors and plots of this evaluation (same rules)."""
    if json_out is not None:  # refused before the model is loaded
        check_output_file(json_out, overwrite=overwrite, inputs=[data, *artifact_files(artifact)], option="--json")
    if html_out is not None:
        inputs = [data, *artifact_files(artifact), *([json_out] if json_out is not None else [])]
        check_output_file(html_out, overwrite=overwrite, inputs=inputs, option="--html")
    predictor = load(artifact, batch_size=batch_size, device=device)
    examples = read_for_artifact(
        predictor, data, text_column=text_column, text_pair_column=text_pair_column, label_column=label_column
    )
    predictor.task.check_known(examples, "evaluation data")
    report = {
        "artifact": str(Path(artifact).resolve()),
        "task": predictor.task.name,
        "evaluated_on": {
            "split": "file",
            "file": str(data),
            "sha256": file_sha256(data),
            "num_examples": len(examples),
        },
        "metrics": predictor.evaluate(examples) if html_out is None else {},
    }
    if html_out is not None:  # the worst errors too, in the same pass
        from tunelab.workflow.report import WORST_ERRORS, evaluate_with_errors

        report["metrics"], errors = evaluate_with_errors(predictor, examples, WORST_ERRORS)
        if errors is not None:
            report["worst_errors"] = {"split": "file", **errors}
    if json_out is not None:
        write_json(report, Path(json_out))
    if html_out is not None:
        from tunelab.workflow.html_report import write_evaluation_html

        write_evaluation_html(Path(html_out), report, predictor.task, predictor.meta)
    if console is not None:
        from tunelab.workflow.report import print_report

        print_report(report, predictor.task, console=console)
    return report
