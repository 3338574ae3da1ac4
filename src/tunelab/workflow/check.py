"""`tunelab check`: what is wrong with the data of a config, found without training (spaCy's `debug data`).

The data is read exactly as `tunelab train` reads it (the task's ``read_splits`` and
``from_examples``, so every error a run would stop on stops the check, exit 2). Then, on what the
task says about its examples (:meth:`tunelab.tasks.base.Task.check_facts`): the counts per split
and where dev/test come from; duplicates within a split (exact, and after normalising case,
whitespace and Unicode width); the same text in two splits (leakage); classes with too few
examples, imbalance and classes of dev/test never seen in train; inputs longer than
``model.max_length`` (with the model's tokenizer, when it loads offline); the same text with
different labels (label-noise candidates); and the task's own facts. Every problem becomes one
"what to do" line in ``warnings``.
"""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tunelab.config import TunelabConfig
from tunelab.errors import TunelabError
from tunelab.files import write_json
from tunelab.tasks.base import CheckFacts, CheckItem, Task, shown_lines

SPLITS = ("train", "dev", "test")
EXAMPLES = 10  # example groups (and lines per group) kept in the JSON report
SHOWN = 5  # example rows shown in the terminal
PAIRS = (("train", "dev"), ("train", "test"), ("dev", "test"))


class CheckOutputError(TunelabError):
    """The --json target cannot be written: it exists (without --overwrite) or is an input."""


def normalise(text: str) -> str:
    """The text compared for near-duplicates, overlap and label noise: Unicode-compatible forms
    (full-width letters, ligatures) folded, case folded, runs of whitespace made one space."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def check_json_target(path: str | Path, *, overwrite: bool, inputs: Sequence[str | Path | None] = ()) -> Path:
    """Refuse a --json path that exists (unless ``overwrite``) or that is one of the inputs."""
    target = Path(path).expanduser()
    resolved = target.resolve()
    for source in inputs:
        if source is not None and Path(source).expanduser().resolve() == resolved:
            raise CheckOutputError(f"--json {path} is an input of the check; choose another path")
    if target.is_dir():
        raise CheckOutputError(f"--json {path} is a directory; give a file path")
    if target.exists() and not overwrite:
        raise CheckOutputError(f"{path} already exists; pass --overwrite to replace it or choose another --json path")
    return target


def check_data(
    config: TunelabConfig,
    *,
    min_examples: int = 5,
    max_imbalance: float = 10.0,
    json_out: str | Path | None = None,
    overwrite: bool = False,
    inputs: Sequence[str | Path] = (),
    console: Console | None = None,
) -> dict[str, Any]:
    """Read the data of ``config`` as training would and report what is wrong with it.

    ``min_examples``: a class with fewer examples in a split is reported; ``max_imbalance``: the
    largest/smallest class ratio in train above which imbalance is reported. Returns the report
    (``warnings`` lists the problems found); writes it to ``json_out`` (atomically; an existing
    file only with ``overwrite``; ``inputs`` are further paths it must not be, such as the config
    file) and prints it on ``console`` when given."""
    from tunelab.tasks import task_class

    data = config.data
    target = None
    if json_out is not None:
        target = check_json_target(json_out, overwrite=overwrite, inputs=[data.train, data.dev, data.test, *inputs])
    task_cls = task_class(config.task.name)
    splits = task_cls.read_splits(config.data, config.task)
    parts: dict[str, Sequence[Any]] = {"train": splits.train, "dev": splits.dev, "test": splits.test}
    task = task_cls.from_splits(config.task, splits)
    checked = task.check_facts(parts, splits)
    items = checked.items
    warnings: list[str] = []
    notes: list[str] = []

    report: dict[str, Any] = {
        "task": task.name,
        "thresholds": {"min_examples": min_examples, "max_imbalance": max_imbalance},
        "splits": _split_sources(splits, parts),
    }
    report["duplicates"] = {name: _duplicates(items[name]) for name in SPLITS if items[name]}
    report["overlap"] = {f"{a}/{b}": _overlap(items[a], items[b], a, b) for a, b in PAIRS if items[a] and items[b]}
    report["classes"] = _classes(checked, min_examples) if checked.classes is not None else None
    report["label_noise"] = _label_noise(items)
    report["lengths"] = _lengths(config, task, parts, items, checked, notes)
    report["task_facts"] = checked.facts

    warnings += _duplicate_warnings(report["duplicates"], report["splits"])
    warnings += _overlap_warnings(report["overlap"], report["splits"])
    if report["classes"] is not None:
        warnings += _class_warnings(report["classes"], checked, min_examples, max_imbalance)
    warnings += _noise_warnings(report["label_noise"])
    warnings += _length_warnings(report["lengths"], checked, config)
    warnings += checked.warnings
    report["notes"] = notes
    report["warnings"] = warnings

    if target is not None:
        write_json(report, target)
    if console is not None:
        print_check(report, checked, console)
        if target is not None:
            console.print(f"report: {target}")
    return report


# -- the checks ---------------------------------------------------------------------------------
def _split_sources(splits: Any, parts: dict[str, Sequence[Any]]) -> dict[str, Any]:
    """Each split's size, where it comes from (a file, carved from train, none) and which file its lines are in."""
    sources = {
        "train": "file" if splits.files.get("train") else "none",
        "dev": splits.dev_source,
        "test": splits.test_source,
    }
    files = splits.files
    out = {}
    for name in SPLITS:
        source = sources[name]
        file = files.get(name) if source == "file" else files.get("train") if source == "split" else None
        out[name] = {"count": len(parts[name]), "source": source, "file": file}
    return out


def _groups(items: Sequence[CheckItem], key) -> list[list[CheckItem]]:
    grouped: dict[str, list[CheckItem]] = defaultdict(list)
    for item in items:
        grouped[key(item.text)].append(item)
    return [group for group in grouped.values() if len(group) > 1]


def _duplicates(items: Sequence[CheckItem]) -> dict[str, Any]:
    """Copies beyond the first of each text: exact, and after :func:`normalise` (which includes the exact ones)."""
    exact = _groups(items, lambda text: text)
    near = _groups(items, normalise)
    return {
        "exact": sum(len(g) - 1 for g in exact),
        "exact_groups": len(exact),
        "normalised": sum(len(g) - 1 for g in near),
        "normalised_groups": len(near),
        "examples": [
            {
                "text": _clip(group[0].text),
                "lines": [item.line for item in group[:EXAMPLES]],
                "exact": len({item.text for item in group}) == 1,
            }
            for group in near[:EXAMPLES]
        ],
    }


def _overlap(first: Sequence[CheckItem], second: Sequence[CheckItem], a: str, b: str) -> dict[str, Any]:
    """The examples of ``second`` whose normalised text is also in ``first`` (leakage)."""
    seen: dict[str, list[int]] = defaultdict(list)
    for item in first:
        seen[normalise(item.text)].append(item.line)
    exact_texts = {item.text for item in first}
    shared: dict[str, list[int]] = defaultdict(list)
    exact = 0
    for item in second:
        key = normalise(item.text)
        if key in seen:
            shared[key].append(item.line)
            exact += item.text in exact_texts
    return {
        "examples": sum(len(lines) for lines in shared.values()),
        "exact": exact,
        "texts": len(shared),
        "lines": sorted(line for lines in shared.values() for line in lines)[: EXAMPLES * 10],
        "shared": [
            {"text": _clip(key), f"{a}_lines": seen[key][:EXAMPLES], f"{b}_lines": lines[:EXAMPLES]}
            for key, lines in list(shared.items())[:EXAMPLES]
        ],
    }


def _classes(checked: CheckFacts, min_examples: int) -> dict[str, Any]:
    """Per split: the count of each class, the classes below ``min_examples``, the imbalance
    (largest/smallest count among the classes present) and, for dev/test, classes train lacks."""
    classes = list(checked.classes or [])
    counts: dict[str, dict[str, int]] = {}
    for name in SPLITS:
        if not checked.items[name]:
            continue
        counter = Counter(c for item in checked.items[name] for c in item.classes)
        extra = sorted(set(counter) - set(classes))  # a class the task did not list: still counted
        counts[name] = {c: counter.get(c, 0) for c in classes + extra}
    too_few = {
        name: [{"class": c, "count": n} for c, n in per_class.items() if n < min_examples]
        for name, per_class in counts.items()
    }
    imbalance = {}
    for name, per_class in counts.items():
        present = {c: n for c, n in per_class.items() if n > 0}
        if len(present) >= 2:
            largest = max(present, key=lambda c: present[c])
            smallest = min(present, key=lambda c: present[c])
            imbalance[name] = {
                "largest": largest,
                "largest_count": present[largest],
                "smallest": smallest,
                "smallest_count": present[smallest],
                "ratio": round(present[largest] / present[smallest], 4),
            }
    train_classes = {c for c, n in counts.get("train", {}).items() if n > 0}
    unseen = {
        name: sorted(c for c, n in per_class.items() if n > 0 and c not in train_classes)
        for name, per_class in counts.items()
        if name != "train" and "train" in counts  # no training data (zero-shot): nothing to be unseen in
    }
    return {
        "noun": checked.class_noun,
        "unit": checked.class_unit,
        "counts": counts,
        "too_few": too_few,
        "imbalance": imbalance,
        "unseen_in_train": unseen,
    }


def _label_noise(items: dict[str, list[CheckItem]]) -> dict[str, Any]:
    """Texts (normalised) that occur with different labels, within a split or across splits."""
    grouped: dict[str, list[tuple[str, CheckItem]]] = defaultdict(list)
    for name in SPLITS:
        for item in items[name]:
            if item.label is not None:
                grouped[normalise(item.text)].append((name, item))
    conflicts = [group for group in grouped.values() if len({item.label for _, item in group}) > 1]
    across = [group for group in conflicts if len({name for name, _ in group}) > 1]
    return {
        "texts": len(conflicts),
        "examples": sum(len(group) for group in conflicts),
        "within_split": len(conflicts) - len(across),
        "across_splits": len(across),
        "groups": [
            {
                "text": _clip(group[0][1].text),
                "labels": dict(Counter(item.label for _, item in group)),
                "occurrences": [
                    {"split": name, "line": item.line, "label": item.label} for name, item in group[:EXAMPLES]
                ],
            }
            for group in conflicts[:EXAMPLES]
        ],
    }


def _lengths(
    config: TunelabConfig,
    task: Task,
    parts: dict[str, Sequence[Any]],
    items: dict[str, list[CheckItem]],
    checked: CheckFacts,
    notes: list[str],
) -> dict[str, Any]:
    """Inputs longer than the max_length training uses, with the model's tokenizer when it loads
    offline; otherwise a note says why the check was skipped."""
    name = config.model.name
    try:
        tokenizer, max_length = _tokenizer(config)
    except Exception as exc:  # any failure to load is reported, never fatal: this check is optional
        reason = _one_line(exc)
        notes.append(f"the tokenizer of model '{name}' could not be loaded offline ({reason}); length check skipped")
        return {"checked": False, "model": name, "reason": reason}
    out: dict[str, Any] = {"checked": True, "model": name, "max_length": max_length, "truncates": checked.truncates}
    per_split = {}
    for split, examples in parts.items():
        if not examples:
            continue
        try:
            lengths = task.token_lengths(tokenizer, examples)
        except Exception as exc:  # a tokenizer the task cannot use (training fails on it too): say so
            reason = _one_line(exc)
            notes.append(f"the tokenizer of model '{name}' cannot encode {split} ({reason}); length check skipped")
            return {"checked": False, "model": name, "reason": reason}
        long = sorted(
            ((n, item.line) for n, item in zip(lengths, items[split]) if n > max_length), key=lambda x: (-x[0], x[1])
        )
        longest = max(range(len(lengths)), key=lambda i: (lengths[i], -i))
        per_split[split] = {
            "texts": len(lengths),
            "count": len(long),
            "share": round(len(long) / len(lengths), 4),
            "longest": {"tokens": lengths[longest], "line": items[split][longest].line},
            "lines": [line for _, line in long[: EXAMPLES * 10]],
        }
    out["splits"] = per_split
    if not checked.truncates and any(s["count"] for s in per_split.values()):
        notes.append(f"inputs longer than {max_length} tokens are split into overlapping windows: nothing is cut")
    return out


def _tokenizer(config: TunelabConfig) -> tuple[Any, int]:
    """The configured model's tokenizer, offline, and the max_length training would use with it."""
    from transformers import AutoTokenizer

    from tunelab.models.resolve import resolve_model
    from tunelab.tasks.backbone import effective_max_length

    resolved = resolve_model(config.model.name, allow_download=False, revision=config.model.revision)
    tokenizer = AutoTokenizer.from_pretrained(resolved.path, local_files_only=True, revision=resolved.revision)
    return tokenizer, effective_max_length(tokenizer, config.model.max_length)


# -- what to do -----------------------------------------------------------------------------------
def _where(splits: dict[str, Any], name: str) -> str:
    file = splits[name]["file"]
    if splits[name]["source"] == "split":
        return f"{name} (carved from train; lines of {file})"
    return f"{name} ({file})"


def _duplicate_warnings(duplicates: dict[str, Any], splits: dict[str, Any]) -> list[str]:
    out = []
    for name, found in duplicates.items():
        if not found["normalised"]:
            continue
        lines = [line for group in found["examples"] for line in group["lines"][1:]]
        effect = "they count several times in training" if name == "train" else "they weigh several times in its scores"
        out.append(
            f"{_where(splits, name)} has {_n(found['normalised'], 'duplicate text')} ({found['exact']} exact, "
            f"{found['normalised'] - found['exact']} differing only in case or spacing), e.g. lines "
            f"{shown_lines(lines)}: remove them, {effect}"
        )
    return out


def _overlap_warnings(overlap: dict[str, Any], splits: dict[str, Any]) -> list[str]:
    out = []
    for pair, found in overlap.items():
        if not found["examples"]:
            continue
        a, b = pair.split("/")
        out.append(
            f"{_n(found['examples'], b + ' example')} ({_n(found['texts'], 'text')}) also in {a}, e.g. {b} lines "
            f"{shown_lines(found['lines'])} of {splits[b]['file']}: remove them from {b}, or its scores "
            "measure memory, not generalisation"
        )
    return out


def _class_warnings(classes: dict[str, Any], checked: CheckFacts, min_examples: int, max_imbalance: float) -> list[str]:
    noun, unit, out = classes["noun"], classes["unit"], []
    for name, few in classes["too_few"].items():
        if few:
            listed = ", ".join(f"{c['class']} ({c['count']})" for c in few[:10]) + (", ..." if len(few) > 10 else "")
            effect = "the model sees too little of them" if name == "train" else "their scores are unreliable"
            out.append(
                f"{name}: {_n(len(few), noun)} with fewer than {min_examples} {unit}: {listed}; add more "
                f"{unit} or merge rare {noun}s ({effect})"
            )
    train = classes["imbalance"].get("train")
    if train and train["ratio"] > max_imbalance:
        out.append(
            f"train's {noun}s are imbalanced: {train['largest']} {train['largest_count']} vs {train['smallest']} "
            f"{train['smallest_count']} (ratio {train['ratio']:g} > {max_imbalance:g}): {checked.imbalance_hint}"
        )
    for name, unseen in classes["unseen_in_train"].items():
        if unseen:
            out.append(
                f"{name} has {noun}s never seen in train: {', '.join(unseen)}; add them to train or drop them "
                f"from {name}"
            )
    return out


def _noise_warnings(noise: dict[str, Any]) -> list[str]:
    if not noise["texts"]:
        return []
    shown = []
    for group in noise["groups"][:3]:
        shown.append(
            " vs ".join(f"{o['split']}:{o['line']} {_clip(str(o['label']), 30)!r}" for o in group["occurrences"][:3])
        )
    return [
        f"{_n(noise['texts'], 'text')} with different labels ({noise['within_split']} within a split, "
        f"{noise['across_splits']} across splits), e.g. {'; '.join(shown)}: fix the wrong labels or drop the copies"
    ]


def _length_warnings(lengths: dict[str, Any], checked: CheckFacts, config: TunelabConfig) -> list[str]:
    if not lengths["checked"] or not checked.truncates:
        return []
    out = []
    for name, found in lengths["splits"].items():
        if found["count"]:
            out.append(
                f"{name}: {found['count']} of {found['texts']} texts ({100 * found['share']:.1f}%) are longer "
                f"than {lengths['max_length']} tokens and will be truncated (longest {found['longest']['tokens']} "
                f"tokens, line {found['longest']['line']}): raise model.max_length (now {config.model.max_length}) "
                "or shorten them"
            )
    return out


# -- the terminal ---------------------------------------------------------------------------------
def print_check(report: dict[str, Any], checked: CheckFacts, console: Console) -> None:
    splits = report["splits"]
    table = Table("split", "examples", "from", title=f"data ({report['task']})")
    for name, info in splits.items():
        source = {"file": info["file"], "split": f"carved from train ({info['file']})", "none": "-"}[info["source"]]
        table.add_row(name, str(info["count"]), escape(source))
    console.print(table)

    table = Table("split", "duplicates (exact)", "duplicates (normalised)", title="duplicates within a split")
    for name, found in report["duplicates"].items():
        table.add_row(name, str(found["exact"]), str(found["normalised"]))
    console.print(table)
    if report["overlap"]:
        table = Table("splits", "examples", "texts", "exact", title="the same text in two splits (leakage)")
        for pair, found in report["overlap"].items():
            table.add_row(pair, str(found["examples"]), str(found["texts"]), str(found["exact"]))
        console.print(table)

    classes = report["classes"]
    if classes is not None:
        names = list(classes["counts"])
        table = Table(classes["noun"], *names, title=f"{classes['unit']} per {classes['noun']}")
        totals = {name: sum(per.values()) or 1 for name, per in classes["counts"].items()}
        for c in dict.fromkeys(c for n in names for c in classes["counts"][n]):  # train's order first
            row = [
                f"{classes['counts'][n].get(c, 0)} ({100 * classes['counts'][n].get(c, 0) / totals[n]:.1f}%)"
                for n in names
            ]
            table.add_row(escape(c), *row)
        ratios = [f"{classes['imbalance'][n]['ratio']:g}" if n in classes["imbalance"] else "-" for n in names]
        table.add_row("largest/smallest", *ratios, style="dim")
        console.print(table)

    noise = report["label_noise"]
    if noise["texts"]:
        table = Table("text", "labels (split:line)", title=f"{noise['texts']} texts with different labels")
        for group in noise["groups"][:SHOWN]:
            where = ", ".join(f"{o['label']} ({o['split']}:{o['line']})" for o in group["occurrences"])
            table.add_row(escape(_clip(group["text"], 60)), escape(where))
        console.print(table)

    lengths = report["lengths"]
    if lengths["checked"]:
        effect = "truncated" if lengths["truncates"] else "split into windows"
        table = Table(
            "split",
            f"longer than {lengths['max_length']} ({effect})",
            "share",
            "longest (tokens, line)",
            title=f"lengths ({lengths['model']} tokenizer)",
        )
        for name, found in lengths["splits"].items():
            longest = found["longest"]
            table.add_row(
                name, str(found["count"]), f"{100 * found['share']:.1f}%", f"{longest['tokens']}, {longest['line']}"
            )
        console.print(table)

    for title, header, rows in checked.tables:
        table = Table(*header, title=title)
        for row in rows:
            table.add_row(*map(escape, row))
        console.print(table)

    for note in report["notes"]:
        console.print(f"[dim]note: {note}[/]", highlight=False)
    if report["warnings"]:
        console.print(f"[bold yellow]{_n(len(report['warnings']), 'warning')}[/] (what to do):", highlight=False)
        for i, line in enumerate(report["warnings"], 1):
            console.print(f"{i}. {line}", highlight=False, markup=False)
    else:
        console.print("[bold green]no problems found[/]")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "es" if noun.endswith("s") else "s")


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return _clip(text, 300)
