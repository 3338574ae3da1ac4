"""`report.html`: one self-contained page a person opens in a browser, offline.

Everything is in the file: inline CSS, no script, every PNG of the artifact (its directory and
subfolders) embedded as a base64 data URI, no external URL. It shows the model's facts (task, base
model, method, data, recipe, time, licence), the metrics of every split (rounded to 4 digits), the
per-label or per-type scores, the worst errors (``report["worst_errors"]``, found by the task) and
the plots. The page is rendered by jinja2 with autoescaping on, so every string from the data, the
config or the model (texts, labels, file names) is HTML-escaped.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

from jinja2 import Environment, StrictUndefined
from markupsafe import Markup

from tunelab.files import atomic_write_bytes

HTML_FILE = "report.html"
DIGITS = 4

_STYLE = """
body { font: 15px/1.45 "Segoe UI", "Helvetica Neue", Arial, "Liberation Sans", "DejaVu Sans", "Noto Sans",
       "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif;
       color: #1f2328; background: #f6f8fa; margin: 0; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 16px; margin: 18px 0 6px; }
.sub { color: #59636e; margin: 0 0 8px; }
.facts { display: grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); gap: 4px 32px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 3px 14px; margin: 0; }
dt { color: #59636e; }
dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 14px; }
th, td { border: 1px solid #d0d7de; padding: 4px 9px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th.primary, td.primary { background: #ddf4ff; }
td.text { max-width: 520px; overflow-wrap: anywhere; }
tr.low td.num.f1 { color: #cf222e; font-weight: 600; }
figure { margin: 14px 0 26px; }
figure img { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
figcaption { color: #59636e; font-size: 13px; margin-top: 2px; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, monospace; background: #f6f8fa; padding: 0 3px; }
.note { color: #59636e; font-size: 13px; }
details > summary { cursor: pointer; color: #0969da; margin: 4px 0; }
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>{{ style }}</style>
</head>
<body><main>
<h1>{{ title }}</h1>
<p class="sub">{{ subtitle }}</p>

<h2 id="model">Model</h2>
<div class="facts">
{% for group, facts in fact_groups %}
<section>
<h3>{{ group }}</h3>
<dl>
{% for name, value in facts %}<dt>{{ name }}</dt><dd>{{ value }}</dd>
{% endfor %}
</dl>
</section>
{% endfor %}
</div>
<h3 id="licence">Licence</h3>
<p>{{ licence }}</p>

<h2 id="metrics">Metrics</h2>
{% if metric_rows %}
<p class="sub">{{ evaluated }}</p>
<table id="metrics-table">
<thead><tr><th>metric</th>
{% for split in splits %}
<th class="num{{ ' primary' if split == primary }}">{{ split }}</th>
{% endfor %}
</tr></thead>
<tbody>
{% for name, values in metric_rows %}
<tr><th>{{ name }}</th>
{% for split, value in values %}
<td class="num{{ ' primary' if split == primary }}" data-split="{{ split }}" data-metric="{{ name }}">{{ value }}</td>
{% endfor %}
</tr>
{% endfor %}
</tbody>
</table>
{% else %}
<p>No dev or test data: nothing was evaluated.</p>
{% endif %}

{% if per_class %}
<h3>{{ per_class.title }}</h3>
<p class="note">Worst F1 first; rows with F1 below 0.5 are marked.</p>
<table id="per-class-table">
<thead><tr><th>{{ per_class.noun }}</th>
{% for col in per_class.columns %}
<th class="num">{{ col }}</th>
{% endfor %}
</tr></thead>
<tbody>
{% for name, low, values in per_class.rows %}
<tr class="{{ 'low' if low }}"><td>{{ name }}</td>
{% for col, value in values %}
<td class="num {{ col }}">{{ value }}</td>
{% endfor %}
</tr>
{% endfor %}
</tbody>
</table>
{% endif %}

<h2 id="errors">Worst errors</h2>
{% if errors %}
<p class="sub">{{ errors.caption }}</p>
<table id="errors-table">
<thead><tr>
{% for col in errors.columns %}
<th class="{{ errors.classes[col] }}">{{ col }}</th>
{% endfor %}
</tr></thead>
<tbody>
{% for row in errors.rows %}
<tr>
{% for col, value in row %}
<td class="{{ errors.classes[col] }}">{{ value }}</td>
{% endfor %}
</tr>
{% endfor %}
</tbody>
</table>
{% else %}
<p>{{ no_errors }}</p>
{% endif %}
{% if frequent %}
<h3>Most frequent entity errors</h3>
<table id="frequent-errors-table">
<thead><tr>{% for col in frequent.columns %}<th>{{ col }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in frequent.rows %}
<tr>
{% for value in row %}
<td class="{{ 'num' if loop.last }}">{{ value }}</td>
{% endfor %}
</tr>
{% endfor %}
</tbody>
</table>
{% endif %}

<h2 id="plots">Plots</h2>
{% for plot in plots %}
<figure>
<img src="{{ plot.uri }}" alt="{{ plot.name }}" width="{{ plot.width }}">
<figcaption>{{ plot.caption }}</figcaption>
</figure>
{% else %}
<p>The artifact holds no plots.</p>
{% endfor %}

<p class="note">{{ footer }}</p>
</main></body>
</html>
"""

_ENV = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def shown(value: Any) -> str:
    """A number as the page shows it: integers whole, other numbers rounded to 4 digits."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{DIGITS}f}"
    return "" if value is None else str(value)


def _scalar(value: Any) -> bool:
    return isinstance(value, (int, float, str)) and not isinstance(value, bool)


def _file_name(path: Any) -> str:
    """The name of a recorded file, never the directories above it (no machine's paths on the page)."""
    return PurePath(str(path).replace("\\", "/")).name if path else ""


def _metric_rows(splits: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every scalar metric of any split, in the order the task reported them, one column per split."""
    names: list[str] = []
    for metrics in splits.values():
        names += [k for k, v in metrics.items() if _scalar(v) and k not in names]
    return [(name, [(split, shown(m.get(name))) for split, m in splits.items()]) for name in names]


def _per_class(metrics: Mapping[str, Any], split: str) -> dict[str, Any] | None:
    for key, noun in (("per_label", "label"), ("per_type", "entity type")):
        table = metrics.get(key)
        if isinstance(table, Mapping) and table:
            columns = [c for c in ("precision", "recall", "f1", "support") if any(c in v for v in table.values())]
            order = sorted(table.items(), key=lambda kv: (kv[1].get("f1", 0.0), kv[0]))
            rows = [
                (name, float(values.get("f1", 1.0)) < 0.5, [(col, shown(values.get(col))) for col in columns])
                for name, values in order
            ]
            title = f"Per {noun} ({split}, {len(rows)} {noun if len(rows) == 1 else noun + 's'})"
            return {"title": title, "noun": noun, "columns": columns, "rows": rows}
    return None


_NUMERIC_ERROR_COLUMNS = {"line", "score", "gold_score", "residual", "errors", "wrong_labels"}


def _errors(report: Mapping[str, Any]) -> dict[str, Any] | None:
    found = report.get("worst_errors") or {}
    rows: Sequence[Mapping[str, Any]] = found.get("rows") or []
    if not rows:
        return None
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    classes = {c: "num" if c in _NUMERIC_ERROR_COLUMNS else "text" if c.startswith("text") else "" for c in columns}
    values = [[(c, shown(row.get(c))) for c in columns] for row in rows]
    split = found.get("split", "?")
    where = "the file" if split == "file" else f"the {split} split"
    description = found.get("description") or ""
    caption = f"The {len(rows)} worst of {where}" + (f": {description}" if description else "")
    return {"columns": columns, "classes": classes, "rows": values, "caption": caption}


def _frequent(metrics: Mapping[str, Any]) -> dict[str, Any] | None:
    """NER's most frequent errors (already in the metrics): kind, text, gold, predicted, count."""
    rows = metrics.get("errors")
    if not isinstance(rows, list) or not rows or not isinstance(rows[0], Mapping):
        return None
    columns = list(rows[0])
    return {"columns": columns, "rows": [[shown(row.get(c)) for c in columns] for row in rows]}


def _plots(directory: Path) -> list[dict[str, Any]]:
    """Every PNG under the artifact directory, sorted by path; the same image saved twice (a
    tracker's copy in logs/) is embedded once, its caption naming every copy."""
    seen: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.rglob("*.png"), key=lambda p: (len(p.relative_to(directory).parts), str(p))):
        if not path.is_file():
            continue
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        relative = path.relative_to(directory).as_posix()
        if digest in seen:
            seen[digest]["copies"].append(relative)
            continue
        width = int.from_bytes(data[16:20], "big") if data[12:16] == b"IHDR" else 0
        seen[digest] = {
            "name": relative,
            "copies": [relative],
            "uri": "data:image/png;base64," + base64.b64encode(data).decode("ascii"),
            # shown at most at the size it was drawn (CSS max-width shrinks wide ones)
            "width": width or "",
        }
    for plot in seen.values():
        plot["caption"] = plot["name"] + (
            f" (also saved as {', '.join(plot['copies'][1:])})" if len(plot["copies"]) > 1 else ""
        )
    return list(seen.values())


def _meta_facts(meta: Any, report: Mapping[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The model's facts grouped as the page shows them, from ``tunelab.json``."""
    labels = list(report.get("labels") or getattr(meta, "labels", []) or [])
    if meta is None:
        return [("Task", [("task", str(report.get("task", "?"))), ("labels", _labels(labels))])]
    model, method, data = meta.model, meta.method, meta.data
    config, training = meta.config or {}, meta.training or {}
    train_cfg = config.get("training") or {}
    task_facts = [("task", meta.task.name.replace("_", " "))]
    if labels:
        task_facts.append(("labels", _labels(labels)))
    if meta.task.state.get("pairs"):
        task_facts.append(("input", "text pairs"))
    model_facts = [
        ("base model", model.base),
        ("architecture", model.architecture or "?"),
        ("parameters", f"{model.num_parameters:,}" if model.num_parameters else "?"),
        ("head", model.head),
        ("max length", f"{model.max_length} tokens"),
    ]
    params = method.parameters or {}
    method_facts = [("method", method.name)]
    if params.get("trainable") is not None:
        share = f" ({100 * params['share']:.2f}% of the model)" if params.get("share") is not None else ""
        method_facts.append(("trained parameters", f"{params['trainable']:,}{share}"))
    method_facts.append(("stored", method.stored.replace("_", " ")))
    counts = data.counts or {}
    data_facts = [
        ("examples", " / ".join(f"{counts.get(s, 0)} {s}" for s in ("train", "dev", "test"))),
        (
            "dev split",
            {"split": "carved from train", "file": "its own file", "none": "none"}.get(
                str(data.dev_source), str(data.dev_source or "?")
            ),
        ),
    ]
    for split, ref in (data.files or {}).items():
        sha = f" (sha256 {ref.sha256[:12]}…)" if ref.sha256 else ""
        data_facts.append((f"{split} file", f"{_file_name(ref.path)}{sha}"))
    truncated = {k: v for k, v in (data.truncated or {}).items() if v}
    data_facts.append(("truncated", ", ".join(f"{v} {k}" for k, v in truncated.items()) if truncated else "none"))
    # a method's own learning rate (method.learning_rate) is the one its optimizer used
    train_cfg = {
        **train_cfg,
        "learning_rate": (method.config or {}).get("learning_rate") or train_cfg.get("learning_rate"),
    }
    recipe = [
        (key.replace("_", " "), _setting(train_cfg[key]))
        for key in ("epochs", "batch_size", "learning_rate", "warmup_ratio", "weight_decay", "precision", "seed")
        if key in train_cfg
    ]
    best = training.get("best_dev_metric") or {}
    outcome = []
    if training.get("steps") is not None:
        outcome.append(("steps", f"{training['steps']} ({_setting(training.get('epochs_completed'))} epochs)"))
    if training.get("stop_reason"):
        outcome.append(("stopped", str(training["stop_reason"])))
    if best.get("value") is not None:
        outcome.append(("best dev", f"{best.get('name')} {shown(best['value'])} at step {training.get('best_step')}"))
    if training.get("seconds") is not None:
        speed = f", {training['samples_per_second']} samples/s" if training.get("samples_per_second") else ""
        outcome.append(("time", f"{_duration(training['seconds'])} on {training.get('device', '?')}{speed}"))
    if meta.created:
        outcome.append(("created", str(meta.created)))
    versions = meta.versions or {}
    shown_versions = [f"{k} {versions[k]}" for k in ("tunelab", "torch", "transformers") if k in versions]
    if shown_versions:
        outcome.append(("versions", ", ".join(shown_versions)))
    return [
        ("Task", task_facts),
        ("Base model", model_facts),
        ("Method", method_facts),
        ("Data", data_facts),
        ("Training recipe", recipe),
        ("Training run", outcome),
    ]


def _setting(value: Any) -> str:
    """A setting as written in a config: 3, 0.003, 2e-05 (not 3.0000)."""
    if isinstance(value, float):
        return f"{value:g}"
    return shown(value)


def _labels(labels: Sequence[str], limit: int = 12) -> str:
    text = ", ".join(labels[:limit])
    return f"{len(labels)}: {text}" + (f", … ({len(labels) - limit} more)" if len(labels) > limit else "")


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def _licence(meta: Any) -> str:
    model = getattr(meta, "model", None)
    if model is None:
        return "No licence facts recorded."
    if model.licence:
        copies = (
            f" Copies of the terms are in the artifact: {', '.join(model.licence_files)}."
            if model.licence_files
            else ""
        )
        return (
            f"The base model {model.base} is distributed under the {model.licence}; this fine-tuned model is a "
            f"derivative and the same terms apply to its use and redistribution.{copies} "
            "The licence of the training data applies too."
        )
    return (
        f"No licence is recorded for the base model {model.base}: check its terms (and those of the training "
        "data) before redistributing this model. The model card (README.md) holds the full details."
    )


def render_html_report(directory: Path, report: Mapping[str, Any], meta: Any = None) -> str:
    """The page for the artifact in ``directory``: ``report`` is report.json's content, ``meta`` the
    artifact's :class:`~tunelab.artifact.ArtifactMeta` (None: only the report's facts)."""
    splits: dict[str, Mapping[str, Any]] = dict(report.get("splits") or {})
    where = report.get("evaluated_on") or {}
    primary = where.get("split")
    if not splits and report.get("metrics"):  # `tunelab evaluate`: one file, named by the column
        primary = _file_name(where.get("file")) if primary == "file" else primary
        primary = primary or "evaluation"
        splits = {primary: report["metrics"]}
    primary_metrics = report.get("metrics") or (splits.get(primary) if primary else None) or {}
    task_name = str(report.get("task") or getattr(getattr(meta, "task", None), "name", "model"))
    base = getattr(getattr(meta, "model", None), "base", None)
    evaluated = ""
    if where:
        source = _file_name(where.get("file")) or "?"
        evaluated = (
            f"Evaluated on {source} ({where.get('num_examples', '?')} examples)."
            if where.get("split") == "file"
            else f"The headline metrics are the {where.get('split')} split's "
            f"({source}, {where.get('num_examples', '?')} examples); highlighted below."
        )
    found = report.get("worst_errors")
    no_errors = (
        "No errors: every example of the split was predicted right."
        if found and not found.get("rows")
        else "This report holds no error examples (nothing was evaluated, or the task does not list them)."
    )
    context = {
        "style": Markup(_STYLE),  # the module's own constant: autoescaping would break its quotes
        "title": f"{task_name.replace('_', ' ')} model: tunelab report",
        "subtitle": f"Fine-tuned from {base}" if base else "tunelab evaluation report",
        "fact_groups": [(g, f) for g, f in _meta_facts(meta, report) if f],
        "splits": list(splits),
        "primary": primary,
        "metric_rows": _metric_rows(splits),
        "evaluated": evaluated,
        "per_class": _per_class(primary_metrics, primary or "evaluation"),
        "errors": _errors(report),
        "no_errors": no_errors,
        "frequent": _frequent(primary_metrics),
        "plots": _plots(directory),
        "licence": _licence(meta),
        "footer": "Written by tunelab from report.json and tunelab.json; the model card is README.md.",
    }
    return _ENV.from_string(_TEMPLATE).render(**context)


def write_html_report(directory: Path, report: Mapping[str, Any], meta: Any = None) -> Path:
    """``report.html`` in ``directory`` (written after the plots, which it embeds); ``meta`` is read
    from the directory's tunelab.json when not given and the directory has one."""
    if meta is None and (directory / "tunelab.json").is_file():
        from tunelab.artifact import read_meta

        meta = read_meta(directory)
    path = directory / HTML_FILE
    atomic_write_bytes(render_html_report(directory, report, meta).encode("utf-8"), path)
    return path


def write_evaluation_html(path: Path, report: Mapping[str, Any], task: Any, meta: Any) -> Path:
    """`tunelab evaluate --html`: the page of one evaluation, with the task's plots of it (drawn in a
    temporary directory, then embedded), not the training-time plots of the artifact."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="tunelab-html-") as tmp:
        plots = Path(tmp)
        if report.get("metrics"):
            task.write_plots(plots, dict(report))
        page = render_html_report(plots, report, meta)
    atomic_write_bytes(page.encode("utf-8"), path)
    return path
