"""The artifact's README.md: a Hugging Face style model card written from the run's own records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunelab.artifact import ArtifactMeta

_DEV_SOURCES = {"split": "carved from train", "file": "from its own file", "none": "none: no dev evaluation"}


def _metric_rows(metrics: dict[str, Any]) -> str:
    """Every scalar metric the task reported, in its order."""
    rows = [
        f"| {name} | {value if isinstance(value, int) else f'{value:.4f}'} |"
        for name, value in metrics.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    ]
    return "\n".join(["| metric | value |", "|---|---|", *rows]) if rows else "(no evaluation data)"


def _plain_use(meta: ArtifactMeta, auto_class: str) -> str:
    method = meta.method
    if method.stored == "full_model":
        names = "\n(`config.id2label` holds the label names)." if meta.labels else "."
        return f'or with plain transformers: `{auto_class}.from_pretrained("path/to/this/directory")`{names}'
    params = method.parameters
    return (
        f"This artifact holds only the {params.get('trainable', 0):,} parameters that method "
        f"`{method.name}` trained ({100 * params.get('share', 0):.2f}% of the model); loading rebuilds the "
        f"base model `{meta.model.base}` and restores them, so the base model must be available."
    )


def render_model_card(meta: ArtifactMeta, report: dict[str, Any], task: Any) -> str:
    name = meta.task.name
    model = meta.model.model_dump()
    training = meta.training
    data = meta.data.model_dump()
    auto_class = model.get("auto_class") or "AutoModelForSequenceClassification"
    where = report.get("evaluated_on") or {}
    files = "\n".join(
        f"- {split}: `{info['path']}` (sha256 `{(info.get('sha256') or '')[:16]}…`)"
        for split, info in data["files"].items()
    )
    config = meta.config
    licence = model.get("licence")
    licence_line = f"license: other\nlicense_name: {licence}\n" if licence else ""
    copies = ", ".join(f"`{f}`" for f in model.get("licence_files", []))
    licence_section = (
        f"## Licence\n\nThe base model `{model['base']}` is distributed under the {licence}; this fine-tuned "
        "model is a derivative and the same terms apply to its use and redistribution. "
        + (f"Copies of the terms are in this directory ({copies}).\n\n" if copies else "\n\n")
        if licence
        else ""
    )
    return f"""---
{licence_line}library_name: transformers
pipeline_tag: {task.hub_pipeline_tag}
base_model: {model["base"]}
tags: [tunelab, {name}]
---

# {name.replace("_", " ")} model fine-tuned with tunelab

Fine-tuned from `{model["base"]}` ({model["architecture"]}, {model["num_parameters"]:,} parameters) for
{name.replace("_", " ")} with {task.card_summary()}.

## Evaluation

On the {where.get("split", "?")} split ({where.get("file", "?")}, {where.get("num_examples", 0)} examples):

{_metric_rows(report.get("metrics") or {})}

The detailed figures (per label or type, plots' data) are in `report.json`.

## Use

```python
import tunelab
model = tunelab.load("path/to/this/directory")
model.predict(["some text"])  # what the task predicts: label names, numbers or entities
```

{_plain_use(meta, auto_class)}

## Training

- data: {data["counts"]["train"]} train / {data["counts"]["dev"]} dev / {data["counts"]["test"]} test examples
  (dev {_DEV_SOURCES.get(data["dev_source"], data["dev_source"])});
  texts truncated at {model["max_length"]} tokens: {data["truncated"]}
{files}
- {training["steps"]} optimizer steps ({training["epochs_completed"]} epochs), stopped: {training["stop_reason"]};
  best dev {training["best_dev_metric"]["name"]} {training["best_dev_metric"]["value"]} at step {training["best_step"]}
- learning rate {config["training"]["learning_rate"]}, batch size {config["training"]["batch_size"]},
  warmup {config["training"]["warmup_ratio"]}, weight decay {config["training"]["weight_decay"]},
  precision {training["precision"]}, seed {config["training"]["seed"]}
- {training["seconds"]} s on {training["device"]}, {training["samples_per_second"]} samples/s

The full configuration, data fingerprints and library versions are in `tunelab.json`.

{licence_section}## Limitations

The model only knows the labels above and the kind of text it was trained on; check it on your
own data before relying on it. The licence of the base model and of the training data apply to
this model too.
"""


def write_model_card(directory: Path, meta: ArtifactMeta, report: dict[str, Any], task: Any) -> Path:
    path = directory / "README.md"
    path.write_text(render_model_card(meta, report, task), encoding="utf-8")
    return path
