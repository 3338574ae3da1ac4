"""The artifact's README.md: a Hugging Face model card written from the run's own records.

The front matter is built with huggingface_hub's card tools (``ModelCardData``, ``EvalResult``), so
the Hub and ``huggingface_hub.ModelCard.load`` read it: ``base_model`` (the base model's hub id),
``model-index`` (the task, the dataset and every result the task publishes, ``Task.card_metrics``,
per evaluated split, with report.json's exact numbers), ``datasets``, ``language``, ``license``,
``library_name``, ``tags`` and ``pipeline_tag``. The text rounds figures to 4 digits and names
files by name and sha256, never by a path of the machine that trained the model.

What the card claims and where it comes from:

- ``base_model``: a packaged model's hub id, a hub model's own id, or a local directory's config
  ``_name_or_path`` when that is a hub id (:func:`tunelab.models.resolve.base_model_facts`); else none.
- ``language`` and ``license``: ``output.card.language`` or the base model's (packaged spec, or the
  front matter of the base model's README.md); the licence is the base model's, since a fine-tuned
  model is a derivative of it.
- ``datasets``: only hub ids the user gives (``output.card.datasets``) or the datasets tunelab ships,
  recognised by the sha256 of the training file (:data:`KNOWN_DATASETS`). A user's own file never
  gets a guessed hub id: the results then name the data after its files (``output.card.dataset_name``
  overrides).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from tunelab.artifact import ArtifactMeta, artifact_path
from tunelab.config import CardConfig
from tunelab.models.resolve import BaseModelFacts, ResolvedModel, base_model_facts
from tunelab.workflow.card_training import figure, recipe, untrained

CARD_FILE = "README.md"
PLACEHOLDER = "path/to/this/directory"  # what the usage snippets load; the test runs them with the artifact's path


@dataclass(frozen=True)
class KnownDataset:
    hub_id: str
    name: str
    license: str  # Hub licence id
    notice: str


_BANKING77 = KnownDataset(
    "PolyAI/banking77",
    "BANKING77",
    "cc-by-4.0",
    "BANKING77 (Casanueva et al., 2020, <https://arxiv.org/abs/2003.04807>) is licensed under the Creative "
    "Commons Attribution 4.0 International licence (CC BY 4.0, <https://creativecommons.org/licenses/by/4.0/>). "
    "tunelab's copy splits the official train set into train and a stratified 10% dev split.",
)
_WNUT17 = KnownDataset(
    "leondz/wnut_17",
    "WNUT 2017 Emerging and Rare Entities",
    "cc-by-4.0",
    "WNUT-17 (Derczynski et al., 2017, <https://aclanthology.org/W17-4418/>) is licensed under the Creative "
    "Commons Attribution 4.0 International licence (CC BY 4.0, <https://creativecommons.org/licenses/by/4.0/>).",
)
_SQUAD = KnownDataset(
    "rajpurkar/squad",
    "SQuAD v1.1",
    "cc-by-sa-4.0",
    "SQuAD v1.1 (Rajpurkar et al., 2016, <https://arxiv.org/abs/1606.05250>) is licensed under the Creative "
    "Commons Attribution-ShareAlike 4.0 International licence (CC BY-SA 4.0, "
    "<https://creativecommons.org/licenses/by-sa/4.0/>). tunelab's copy splits 36 articles of the official dev "
    "set into train and dev by article.",
)
#: The data files shipped in the project's ``data/`` folder, by sha256 (tests check they still match).
KNOWN_DATASETS: dict[str, KnownDataset] = {
    "c0b19987a061c89718e540975da049226cf7e104a9ccdc65e2fac3402e9b38ef": _BANKING77,  # banking77/train.csv
    "37439c5596ebfb79fd7a9d4446acc04698e7a702736a9f62cf9f407ff71591a7": _BANKING77,  # banking77/dev.csv
    "731820e13f71af324c6b55a1575ec2ce59fbaa2a0806f8f0400b98d56cd6a7a5": _WNUT17,  # wnut17/train.conll
    "e053b752b8155113ca66e7db08af5f2f5f43ab993694e4774f1ec5bad42312d8": _WNUT17,  # wnut17/dev.conll
    "ed371104c616cea19780bb58fa839bba47ea16807f9f3a0fd8b72be3468c9897": _SQUAD,  # squad/train.json
    "7f74ccd9a92c67e0f8c7b1a60bb5323e7a077281a7b995f5cd55f3703f63208e": _SQUAD,  # squad/dev.json
}

#: A report's metric -> the Hub's metric id and its arguments (https://hf.co/metrics); others keep their name.
HUB_METRICS: dict[str, tuple[str, dict[str, Any] | None]] = {
    "pearson": ("pearsonr", None),
    "spearman": ("spearmanr", None),
    "samples_f1": ("f1", {"average": "samples"}),
    **{
        f"{average}_{metric}": (metric, {"average": average})
        for average in ("macro", "micro", "weighted")
        for metric in ("f1", "precision", "recall")
    },
}

_SPLIT_WORDS = {"train", "training", "dev", "valid", "validation", "val", "test", "eval", "all", "data", "split"}


@dataclass(frozen=True)
class DataFacts:
    name: str  # what the results call the data
    type: str  # the model-index dataset type: a hub id when known, else a slug of the name
    hub_ids: list[str]
    license: str | None
    notices: list[str]


def _file_name(recorded: str | None) -> str:
    return PurePath(recorded).name if recorded else ""


def _data_name(files: dict[str, str]) -> str:
    """The data's name from its file names: the training file's name without split words
    (``sts-train.csv`` -> ``sts``), else its folder's (``banking77/train.csv`` -> ``banking77``)."""
    recorded = files.get("train") or next(iter(files.values()), "")
    if not recorded:
        return "data"
    path = PurePath(recorded)
    words = [w for w in re.split(r"[-_.\s]+", path.stem) if w and w.lower() not in _SPLIT_WORDS]
    if words:
        return "-".join(words)
    folder = path.parent.name
    return folder if folder not in ("", ".", "..") else path.stem


def data_facts(meta: ArtifactMeta, settings: CardConfig) -> DataFacts:
    files = {split: ref.path for split, ref in meta.data.files.items()}
    known: list[KnownDataset] = []
    for ref in meta.data.files.values():
        found = KNOWN_DATASETS.get(ref.sha256 or "")
        if found is not None and found not in known:
            known.append(found)
    hub_ids = list(settings.datasets) or [k.hub_id for k in known]
    name = settings.dataset_name or (known[0].name if known else _data_name(files))
    slug = re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-") or "data"
    notices = [k.notice for k in known]
    license = settings.data_license or (known[0].license if len(known) == 1 else None)
    if settings.data_license:
        notices.insert(
            0, f"The training data is licensed under {settings.data_license} (as the run's configuration says)."
        )
    return DataFacts(name, hub_ids[0] if hub_ids else slug, hub_ids, license, notices)


def _base_facts(meta: ArtifactMeta, directory: Path, resolved: ResolvedModel | None) -> BaseModelFacts:
    model = meta.model
    path: str | Path | None = resolved.path if resolved is not None else None
    if path is None and model.path:  # a published artifact: its recorded path is relative to it
        path = artifact_path(model.path, directory)
    return base_model_facts(model.base, model.source, path)


def _base_label(meta: ArtifactMeta, facts: BaseModelFacts) -> str:
    if facts.hub_id:
        return f"[{facts.hub_id}](https://huggingface.co/{facts.hub_id})"
    if meta.model.source == "local":
        name = PurePath(meta.model.base).name
        return f"a local model directory (`{name}`)" if name not in ("", ".", "..") else "a local model directory"
    return f"`{meta.model.base}`"


def _splits(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The evaluated splits' metrics, test first."""
    splits = dict(report.get("splits") or {})
    where = report.get("evaluated_on") or {}
    if not splits and report.get("metrics") and where.get("split"):
        splits = {where["split"]: report["metrics"]}
    return {name: splits[name] for name in sorted(splits, key=lambda s: (s != "test", s))}


def eval_results(report: dict[str, Any], task: Any, data: DataFacts) -> list[EvalResult]:
    results = []
    task_name = task.name.replace("_", " ").capitalize()
    for split, metrics in _splits(report).items():
        for key, value in task.card_metrics(metrics).items():
            metric_type, args = HUB_METRICS.get(key, (key, None))
            results.append(
                EvalResult(
                    task_type=task.hub_pipeline_tag,
                    task_name=task_name,
                    dataset_type=data.type,
                    dataset_name=data.name,
                    dataset_split=split,
                    metric_type=metric_type,
                    metric_name=key,
                    metric_value=value,
                    metric_args=args,
                )
            )
    return results


def card_data(
    meta: ArtifactMeta, report: dict[str, Any], task: Any, facts: BaseModelFacts, data: DataFacts, library: str
) -> ModelCardData:
    settings = _settings(meta)
    results = eval_results(report, task, data)
    base_name = PurePath(facts.hub_id or meta.model.base).name or "model"
    extra: dict[str, Any] = {}
    if facts.hub_id:
        extra["base_model_relation"] = "adapter" if library == "peft" else "finetune"
    return ModelCardData(
        base_model=facts.hub_id,
        datasets=data.hub_ids or None,
        language=list(settings.language or facts.language) or None,
        license=facts.license,
        license_name=facts.license_name,
        license_link=facts.license_link,
        library_name=library,
        pipeline_tag=task.hub_pipeline_tag,
        tags=["tunelab", task.name, meta.method.name],
        metrics=list(dict.fromkeys(r.metric_type for r in results)) or None,
        model_name=f"{base_name}-{data.type.split('/')[-1]}" if results else None,
        eval_results=results or None,
        **extra,
    )


def _settings(meta: ArtifactMeta) -> CardConfig:
    raw = (meta.config.get("output") or {}).get("card") or {}
    return CardConfig.model_validate(raw)


# -- the text ----------------------------------------------------------------------------------------


def _evaluation(report: dict[str, Any], task: Any, meta: ArtifactMeta) -> str:
    splits = _splits(report)
    if not splits:
        return "## Evaluation\n\nThe model was not evaluated: the run had no dev or test data.\n"
    selected = (meta.config.get("training") or {}).get("metric") or getattr(task, "default_metric", None)
    parts = ["## Evaluation\n"]
    for split, metrics in splits.items():
        shown = task.card_metrics(metrics)
        order = sorted(shown, key=lambda k: k != selected)
        source = _split_source(meta, split)
        count = meta.data.counts.get(split)
        rows = "\n".join(f"| {key} | {figure(shown[key])} |" for key in order)
        note = f"\n\n{metrics['note']}" if isinstance(metrics.get("note"), str) else ""
        parts.append(
            f"On the {split} split ({source}{f', {count:,} examples' if count else ''}):\n\n"
            f"| metric | value |\n|---|---|\n{rows}{note}\n"
        )
    if "test" not in splits:
        parts.append(
            "These are dev figures: the dev split also chose the best checkpoint, so expect a little less on "
            "new data.\n"
        )
    parts.append("Per-label or per-type figures and the plots' data are in `report.json`.\n")
    return "\n".join(parts)


def _split_source(meta: ArtifactMeta, split: str) -> str:
    ref = meta.data.files.get(split)
    if ref is not None:
        return f"`{_file_name(ref.path)}`"
    train = _file_name(meta.data.files["train"].path) if "train" in meta.data.files else "the training file"
    return f"carved from `{train}`" if train != "the training file" else "carved from the training file"


def _inputs(task: Any) -> tuple[list[str], list[str] | None]:
    """Example inputs for the usage snippet: the task's own request examples."""
    examples = [e.get("value") or {} for e in (getattr(task, "request_examples", None) or {}).values()]
    if task.pairs:
        for value in examples:
            if value.get("text_pairs"):
                return list(value["texts"]), list(value["text_pairs"])
        texts = next((list(v["texts"]) for v in examples if v.get("texts")), ["The first text."])
        return texts, ["A second text." for _ in texts]
    return next((list(v["texts"]) for v in examples if v.get("texts")), ["Some text."]), None


def _usage(meta: ArtifactMeta, task: Any) -> str:
    texts, pairs = _inputs(task)
    call = f"model.predict({texts!r}" + (f", text_pairs={pairs!r})" if pairs else ")")
    parts = [
        "## Use\n",
        "With tunelab (`pip install tunelab`), from this model's directory:\n",
        "```python\nimport tunelab\n\n"
        f'model = tunelab.load("{PLACEHOLDER}")  # the directory holding this README.md\n'
        f"print({call})\n```\n",
    ]
    method, model = meta.method, meta.model
    if method.stored == "full_model" and model.head == "transformers" and model.auto_class:
        tokenize = f"tokenizer({texts!r}" + (f", {pairs!r}" if pairs else "")
        columns = "  # the last axis: one score per model.config.id2label" if meta.labels else "  # the raw outputs"
        shown = ", ".join(f"outputs.{name}" for name in task.output_names)  # what the task's model returns
        parts += [
            "Or with plain transformers (the raw scores; tunelab turns them into predictions):\n",
            f"```python\nimport torch\nfrom transformers import {model.auto_class}, AutoTokenizer\n\n"
            f'tokenizer = AutoTokenizer.from_pretrained("{PLACEHOLDER}")\n'
            f'model = {model.auto_class}.from_pretrained("{PLACEHOLDER}").eval()\n'
            f'inputs = {tokenize}, truncation=True, max_length={model.max_length}, padding=True, return_tensors="pt")\n'
            "with torch.no_grad():\n    outputs = model(**inputs)\n"
            f"print({shown}){columns}\n```\n",
        ]
    elif method.stored != "full_model":
        params = method.parameters
        parts.append(
            f"This directory holds only the {params.get('trainable', 0):,} parameters that method `{method.name}` "
            f"trained ({100 * params.get('share', 0):.2f}% of the model); loading rebuilds the base model and "
            "restores them, so the base model must be available where it is loaded.\n"
        )
    return "\n".join(parts)


def _data_section(meta: ArtifactMeta, data: DataFacts) -> str:
    counts, files = meta.data.counts, meta.data.files
    rows = []
    for split in ("train", "dev", "test"):
        if not counts.get(split) and split not in files:
            continue
        ref = files.get(split)
        where = _split_source(meta, split)
        sha = f"`{ref.sha256}`" if ref is not None and ref.sha256 else ""
        rows.append(f"| {split} | {where} | {counts.get(split, 0):,} | {sha} |")
    hub = ", ".join(f"[{h}](https://huggingface.co/datasets/{h})" for h in data.hub_ids)
    return (
        f"## Training data\n\nData: **{data.name}**" + (f" ({hub})" if hub else "") + ".\n\n"
        "| split | file | examples | sha256 |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def _limitations(meta: ArtifactMeta, report: dict[str, Any], task: Any, language: Sequence[str]) -> str:
    counts, truncated = meta.data.counts, meta.data.truncated
    train = counts.get("train", 0)
    items = []
    size = f"It was trained on {train:,} examples"
    if untrained(meta):
        size = "It was not trained on labelled examples"
    elif train < 1000:
        size += ": a small set, so expect its figures to move with the seed and the split"
    items.append(size + ".")
    splits = _splits(report)
    if not splits:
        items.append("It was not evaluated: the run had no dev or test data.")
    elif "test" not in splits:
        carved = " (carved from the training file)" if meta.data.dev_source == "split" else ""
        items.append(
            f"It was not evaluated on held-out test data: the figures are on the dev split{carved}, which also "
            "chose the best checkpoint."
        )
    shown = ", ".join(language) if language else "the training data's"
    items.append(
        f"Not evaluated: texts of other domains or languages than {shown}, the calibration of its scores, "
        "and how it treats groups of people."
    )
    items += task.card_limitations(meta.model.max_length)
    long = [f"{truncated[s]:,} of {counts.get(s, 0):,} {s}" for s in ("train", "dev", "test") if truncated.get(s)]
    items.append(
        f"Cut at {meta.model.max_length} tokens: {', '.join(long)} examples."
        if long
        else f"No training or evaluation example was cut at {meta.model.max_length} tokens."
    )
    return "## Limitations\n\n" + "\n".join(f"- {item}" for item in items) + "\n"


def _licences(meta: ArtifactMeta, facts: BaseModelFacts, data: DataFacts) -> str:
    base = facts.hub_id or "the base model"
    if facts.notice:
        copies = ", ".join(f"`{f}`" for f in meta.model.licence_files)
        model = (
            f"The base model {base} is distributed under the {facts.notice}; this model is a derivative, and the "
            "same terms apply to its use and redistribution."
            + (f" Copies of the terms are in this directory ({copies})." if copies else "")
        )
    else:
        model = f"The licence of {base} is not recorded here: check it before you share this model."
    if data.notices:
        notice = " ".join(data.notices)
    else:
        notice = (
            "The licence of the training data is not recorded (set `output.card.data_license`): check that it "
            "allows what you do with this model."
        )
    return f"## Licence\n\n{model}\n\n{notice}\n"


def render_model_card(
    meta: ArtifactMeta,
    report: dict[str, Any],
    task: Any,
    *,
    directory: Path | None = None,
    resolved: ResolvedModel | None = None,
) -> ModelCard:
    """The card of the artifact in ``directory`` (its files decide the library: a peft adapter or a
    model); ``resolved`` is the base model as training resolved it (a local directory's own files
    then name its hub id)."""
    directory = Path(directory) if directory is not None else Path(".")
    facts = _base_facts(meta, directory, resolved)
    settings = _settings(meta)
    data = data_facts(meta, settings)
    library = "peft" if (directory / "adapter_config.json").is_file() else "transformers"
    metadata = card_data(meta, report, task, facts, data, library)
    name = task.name.replace("_", " ")
    model = meta.model
    size = f", {model.num_parameters:,} parameters" if model.num_parameters else ""
    body = "\n".join(
        [
            f"# {name.capitalize()} model {'built' if untrained(meta) else 'fine-tuned'} with tunelab\n",
            f"{'Built from' if untrained(meta) else 'Fine-tuned from'} {_base_label(meta, facts)} "
            f"({model.architecture}{size}) for {name} "
            f"with {task.card_summary()}.\n",
            _evaluation(report, task, meta),
            _usage(meta, task),
            _data_section(meta, data),
            recipe(meta),
            _limitations(meta, report, task, list(settings.language or facts.language)),
            _licences(meta, facts, data),
        ]
    )
    return ModelCard(f"---\n{metadata.to_yaml()}\n---\n\n{body}")


def write_model_card(
    directory: Path,
    meta: ArtifactMeta,
    report: dict[str, Any],
    task: Any,
    *,
    resolved: ResolvedModel | None = None,
) -> Path:
    path = Path(directory) / CARD_FILE
    path.write_text(str(render_model_card(meta, report, task, directory=directory, resolved=resolved)), "utf-8")
    return path


def adapt_card(text: str, *, library_name: str | None = None, add_tags: Sequence[str] = ()) -> str:
    """Another artifact's card with its metadata changed (an ONNX export: library onnx, tag onnx)."""
    card = ModelCard(text)
    data: Any = card.data
    if library_name:
        data.library_name = library_name
    data.tags = list(dict.fromkeys([*(data.tags or []), *add_tags]))
    return str(card)
