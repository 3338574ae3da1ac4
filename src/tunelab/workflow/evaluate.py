"""`tunelab evaluate`: score an artifact on a labelled file, through the same Predictor as training."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tunelab.artifact import file_sha256, write_json
from tunelab.errors import ConfigError
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
    perturb: Sequence[str] | None = None,
    perturb_seed: int = 0,
    perturb_p: float = 0.1,
) -> dict[str, Any]:
    """The task's metrics of ``artifact`` on the labelled file ``data``; printed as the task's table
    on ``console`` when given, written to ``json_out`` when given (atomically; an existing file only
    with ``overwrite``, never the data file or a file of the artifact); ``html_out``: a self-contained
    HTML page of the metrics, the worst errors and plots of this evaluation (same rules).
    ``perturb``: also score perturbed copies of the file (see :func:`robustness`), kept under
    ``report["robustness"]``; ``report["metrics"]`` stays the clean file's."""
    if perturb:  # bad names fail before the model is loaded
        perturb = check_perturbations(perturb, perturb_p)
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
    if perturb:
        report["robustness"] = robustness(
            predictor, examples, report["metrics"], perturb, seed=perturb_seed, p=perturb_p
        )
    if json_out is not None:
        write_json(report, Path(json_out))
    if html_out is not None:
        from tunelab.workflow.html_report import write_evaluation_html

        write_evaluation_html(Path(html_out), report, predictor.task, predictor.meta)
    if console is not None:
        from tunelab.workflow.report import print_report

        print_report(report, predictor.task, console=console)
        if "robustness" in report:
            print_robustness(report["robustness"], console)
    return report


def check_perturbations(names: Sequence[str], p: float) -> list[str]:
    """The ``--perturb`` names, each once (a ConfigError lists the known ones), and a sane ``--perturb-p``."""
    from tunelab.augment import PERTURBATIONS, check_ops

    if not 0 < p <= 1:
        raise ConfigError(f"--perturb-p must be in (0, 1], got {p}")
    parts = [part for name in names for part in str(name).replace(",", " ").split()]
    checked = check_ops(parts, PERTURBATIONS, where="--perturb")
    if not checked:
        raise ConfigError(f"--perturb: name at least one of {', '.join(PERTURBATIONS)}")
    return checked


def robustness(
    predictor: Predictor, examples: list[Any], clean: dict[str, Any], names: Sequence[str], *, seed: int, p: float
) -> dict[str, Any]:
    """Metrics of perturbed copies of ``examples`` (labels kept, texts changed by the task's
    ``perturb`` hook, seeded by ``seed``): one row per perturbation and, for several, ``all`` of
    them applied together; ``drop``: clean minus perturbed for each of the task's headline metrics."""
    from tunelab.augment.apply import perturbation_augmenter, resolve_language

    language = resolve_language("auto", examples)
    sets = [(name, [name]) for name in names] + ([("all", list(names))] if len(names) > 1 else [])
    rows: dict[str, dict[str, Any]] = {"clean": clean}
    changed: dict[str, float] = {}
    for row, ops in sets:
        augmenter = perturbation_augmenter(ops, p=p, seed=seed, language=language)
        perturbed = predictor.task.perturb(examples, augmenter)
        changed[row] = round(sum(a != b for a, b in zip(examples, perturbed)) / max(1, len(examples)), 4)
        rows[row] = predictor.evaluate(perturbed)
    headline = list(predictor.task.card_metrics(clean))
    first = [m for m in (predictor.task.default_metric,) if m in headline]
    columns = first + [m for m in headline if m not in first]
    drop = {
        row: {m: float(clean[m]) - float(metrics[m]) for m in columns if isinstance(metrics.get(m), (int, float))}
        for row, metrics in rows.items()
        if row != "clean"
    }
    return {
        "perturbations": list(names),
        "seed": seed,
        "p": p,
        "language": language,
        "columns": columns,
        "changed": changed,
        "metrics": rows,
        "drop": drop,
    }


TABLE_METRICS = 3  # metric columns of the printed table (the JSON holds every headline metric)


def print_robustness(result: dict[str, Any], console: Any) -> None:
    """One table: a row per perturbation (clean first), a column per headline metric, each
    perturbed value with its change from clean."""
    from rich.table import Table

    columns = result["columns"][:TABLE_METRICS]
    clean = result["metrics"]["clean"]
    table = Table(
        "data",
        *columns,
        "changed",
        title="robustness",
        caption=f"perturbed copies: seed {result['seed']}, p {result['p']}, language {result['language']}; "
        "(±): change from clean; changed: share of examples whose text changed; every metric: --json",
    )
    for row, metrics in result["metrics"].items():
        cells = []
        for m in columns:
            value = metrics.get(m)
            if not isinstance(value, (int, float)):
                cells.append("-")
            elif row == "clean":
                cells.append(f"{value:.4f}")
            else:
                cells.append(f"{value:.4f} ({value - float(clean[m]):+.4f})")
        changed = result["changed"].get(row)
        table.add_row(row, *cells, "-" if changed is None else f"{100 * changed:.0f}%")
    console.print(table)
