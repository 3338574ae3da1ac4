"""The contract between the core and a task, and what every task shares (:class:`BaseTask`).

The core (loop, Predictor, export, serve, CLI) moves dicts of tensors and arrays and asks the task
everything that depends on what is predicted:

- data: ``read_splits`` (training), ``read_file`` (evaluate, predict), ``make_examples`` (raw input),
  ``encode`` (examples -> an indexable dataset of unpadded items), ``collator`` (items -> a batch);
- model: ``build_model``, ``head_modules``; ``input_names`` are the batch keys the model takes,
  ``target_names`` the ones the loss takes, ``output_names`` what it returns (``outputs`` picks
  them from the model's output), ``sequence_keys`` the outputs and targets with a sequence axis
  (padded to a common width when processes exchange them);
- results: ``decode_batch`` turns one batch of outputs (numpy) into compact per-item results,
  which ``scorer`` (metrics, accumulated batch by batch), ``predictions`` (Python API),
  ``prediction_records`` (JSON for predict and serve) and ``agreement`` (export parity) use;
- presentation: ``print_report``, ``write_plots``, ``record_table`` (CSV/terminal), ``describe``
  (service model info), ``prediction_schema`` (OpenAPI).
- data checks (`tunelab check`): ``check_facts`` (what to compare, the classes, the task's own
  facts and warnings), ``token_lengths``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
from pydantic import BaseModel
from rich.console import Console
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from tunelab.augment import Augmented, Augmenter
from tunelab.config import DataConfig, ModelConfig
from tunelab.data.batching import PaddingCollator
from tunelab.data.encoding import EncodedDataset
from tunelab.errors import ConfigError, InputError
from tunelab.models.resolve import ResolvedModel
from tunelab.tasks.backbone import head_modules
from tunelab.tasks.lifecycle import LifecycleDefaults

Outputs = dict[str, np.ndarray]
LossFn = Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor]], torch.Tensor]


class Scorer(Protocol):
    """Metrics accumulated batch by batch: ``add`` keeps only what the metrics need."""

    def add(self, indices: Sequence[int], items: Sequence[Any]) -> None: ...

    def result(self) -> dict[str, Any]: ...


class ErrorFinder(Protocol):
    """The worst errors of a labelled split, kept batch by batch like a :class:`Scorer`: ``result``
    gives at most the asked number of JSON-ready rows (see :func:`error_row`), worst first."""

    def add(self, indices: Sequence[int], items: Sequence[Any]) -> None: ...

    def result(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class CheckItem:
    """One example as `tunelab check` compares it: ``text`` is its input (a text pair joined by a
    tab, tokens by spaces), ``label`` its target as a string (None when unlabelled), ``classes``
    the classes it counts towards (its labels; one entry per entity for NER)."""

    text: str
    label: str | None
    source: str
    line: int
    classes: tuple[str, ...] = ()


@dataclass
class CheckFacts:
    """What a task tells `tunelab check`: the items of each split, its classes (counted per split
    for rare classes and imbalance; None when it has none), and its own facts, tables and
    warnings (one "what to do" line each)."""

    items: dict[str, list[CheckItem]]
    classes: list[str] | None = None
    class_noun: str = "label"
    class_unit: str = "examples"
    imbalance_hint: str = "add examples of the rare classes"
    truncates: bool = True  # False: an input longer than model.max_length is split, not cut
    facts: dict[str, Any] = field(default_factory=dict)
    tables: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)  # title, header, rows
    warnings: list[str] = field(default_factory=list)


class Task(Protocol):
    name: ClassVar[str]
    model_class: ClassVar[type]  # the transformers Auto class that loads the artifact
    peft_task_type: ClassVar[str]  # peft's TaskType for this head
    default_metric: ClassVar[str]
    metric_directions: ClassVar[dict[str, str]]  # selectable dev metrics -> "max" | "min"
    input_names: ClassVar[tuple[str, ...]]
    target_names: ClassVar[tuple[str, ...]]
    output_names: ClassVar[tuple[str, ...]]
    sequence_keys: ClassVar[dict[str, float]]  # key with a sequence axis (dim 1) -> its padding value
    prediction_schema: ClassVar[type[BaseModel]]
    request_examples: ClassVar[dict[str, dict[str, Any]]]  # OpenAPI examples of /v1/predict bodies
    hub_pipeline_tag: ClassVar[str]  # the Hugging Face pipeline tag of the model card
    labels: list[str]  # the model's output labels, in id order (empty for a task that predicts numbers)
    config: Any  # the task's own config section
    pairs: bool  # trained on text pairs: every input must be a pair

    # -- construction --------------------------------------------------------------------------
    @staticmethod
    def read_splits(data_config: DataConfig, config: Any) -> Any: ...

    @classmethod
    def from_examples(cls, config: Any, train: Sequence[Any]) -> Task: ...

    @classmethod
    def from_splits(cls, config: Any, splits: Any) -> Task: ...

    def needs_training_data(self) -> bool: ...

    def self_training_examples(
        self, model: Any, tokenizer: Any, data_config: Any, max_length: int, log: Callable[[str], None]
    ) -> list[Any]: ...

    @classmethod
    def from_state(cls, config: Any, state: dict[str, Any]) -> Task: ...

    def state(self) -> dict[str, Any]: ...

    def describe(self) -> dict[str, Any]: ...

    def output_sizes(self) -> dict[str, int]: ...

    # -- after training: state fitted on the saved model (out-of-scope detection, calibration)
    def fit_after_training(
        self, predictor: Any, parts: Mapping[str, Sequence[Any]], directory: Path
    ) -> dict | None: ...
    def prepare_model(self, model: Any) -> Any: ...
    def load_files(self, directory: str | Path) -> None: ...
    def task_files(self) -> list[str]: ...

    # -- ensembles (`tunelab ensemble`) ------------------------------------------------------------
    combine_modes: ClassVar[tuple[str, ...]]  # the --combine modes this task's models allow

    def combine_outputs(self, outputs_list: Sequence[Outputs], weights: Sequence[float], mode: str) -> Outputs: ...

    # -- model and training --------------------------------------------------------------------
    def build_model(self, resolved: ResolvedModel, model_config: ModelConfig) -> PreTrainedModel: ...

    def head_modules(self, model: PreTrainedModel) -> list[str]: ...

    def contrastive(self) -> Any | None: ...  # few-shot support (training/strategies/base.py), None: not supported

    def encode(
        self, tokenizer: PreTrainedTokenizerBase, examples: Sequence[Any], max_length: int
    ) -> EncodedDataset: ...

    def collator(self, pad_token_id: int) -> Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]]: ...

    def outputs(self, model_output: Any) -> dict[str, torch.Tensor]: ...

    def loss_fn(self, train: Sequence[Any], *, label_smoothing: float = 0.0) -> LossFn: ...

    def output_divergence(
        self, a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> torch.Tensor: ...

    # -- results -------------------------------------------------------------------------------
    def decode_batch(self, encoded: EncodedDataset, indices: Sequence[int], outputs: Outputs) -> list[Any]: ...

    def scorer(self, encoded: EncodedDataset) -> Scorer: ...

    def predictions(self, encoded: EncodedDataset, items: Sequence[Any]) -> list[Any]: ...

    def prediction_records(self, encoded: EncodedDataset, items: Sequence[Any], *, top_k: int = 1) -> list[dict]: ...

    def agreement(self, encoded: EncodedDataset, a: Sequence[Any], b: Sequence[Any]) -> tuple[int, int, str]: ...

    def unbatch(
        self, encoded: EncodedDataset, indices: Sequence[int], outputs: Outputs
    ) -> list[dict[str, np.ndarray]]: ...

    # -- files and raw input -------------------------------------------------------------------
    def read_file(self, path: str | Path, meta: Any, **options: Any) -> list[Any]: ...

    def check_known(self, examples: Sequence[Any], where: str) -> None: ...

    def make_examples(self, texts: Any = None, text_pairs: Any = None, tokens: Any = None) -> list[Any]: ...

    # -- augmentation (`augment:`) and robustness (`tunelab evaluate --perturb`) ----------------
    def augment(self, examples: Sequence[Any], augmenter: Augmenter) -> list[Augmented]: ...

    def perturb(self, examples: Sequence[Any], augmenter: Augmenter) -> list[Any]: ...

    # -- data checks (`tunelab check`) -----------------------------------------------------------
    def check_facts(self, parts: dict[str, Sequence[Any]], splits: Any) -> CheckFacts: ...

    def token_lengths(self, tokenizer: PreTrainedTokenizerBase, examples: Sequence[Any]) -> list[int]: ...

    # -- presentation --------------------------------------------------------------------------
    def print_report(self, metrics: dict[str, Any], console: Console | None, title: str) -> None: ...

    def write_plots(self, directory: Path, report: dict[str, Any]) -> list[Path]: ...

    def record_table(self, records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]: ...

    def terminal_rows(self, records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]: ...

    def card_summary(self) -> str: ...

    def card_metrics(self, metrics: dict[str, Any]) -> dict[str, float]: ...

    def card_limitations(self, max_length: int) -> list[str]: ...

    def worst_errors(self, encoded: EncodedDataset, limit: int) -> ErrorFinder | None: ...


class ItemScorer:
    """The default scorer: keeps each item's result and scores them all at the end. Tasks whose
    items are large keep something smaller (see text classification)."""

    def __init__(self, metrics: Callable[[list[Any]], dict[str, Any]], size: int) -> None:
        self.metrics = metrics
        self.items: list[Any] = [None] * size

    def add(self, indices: Sequence[int], items: Sequence[Any]) -> None:
        for i, item in zip(indices, items):
            self.items[i] = item

    def result(self) -> dict[str, Any]:
        return self.metrics(self.items)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (stable)."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


# -- ensembles: what the tasks' combine_outputs share ------------------------------------------
VOTE_TIE_BREAK = 1e-6  # weight of the mean probability in a vote: decides ties, never a majority


def weighted_mean(arrays: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """The weighted mean of arrays of one shape (the members' probabilities or numbers), in float64;
    the weights are normalised to sum to 1."""
    w = np.asarray(weights, dtype=np.float64)
    return np.tensordot(w / w.sum(), np.stack([np.asarray(a, dtype=np.float64) for a in arrays]), axes=1)


def vote_probabilities(probs_list: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """Over the last axis: each class's (weighted) share of the members' votes (their argmax), ties
    broken by the mean probability; rows sum to 1, so the winner's score is its share of votes."""
    k = np.asarray(probs_list[0]).shape[-1]
    eye = np.eye(k)
    votes = weighted_mean([eye[np.asarray(p).argmax(axis=-1)] for p in probs_list], weights)
    return (votes + VOTE_TIE_BREAK * weighted_mean(probs_list, weights)) / (1.0 + VOTE_TIE_BREAK)


def log_probabilities(probs: np.ndarray) -> np.ndarray:
    """Logits whose softmax gives back ``probs`` (rows summing to 1), finite where a probability is 0."""
    return np.log(np.maximum(probs, np.finfo(np.float64).tiny))


class BaseTask(LifecycleDefaults):
    """What every task shares: the usual encoder inputs, one ``logits`` output, ``labels`` as the
    target, heads read from the model's structure, a padding collator, per-item outputs."""

    input_names: ClassVar[tuple[str, ...]] = ("input_ids", "attention_mask", "token_type_ids")
    target_names: ClassVar[tuple[str, ...]] = ("labels",)
    output_names: ClassVar[tuple[str, ...]] = ("logits",)
    sequence_keys: ClassVar[dict[str, float]] = {}
    request_examples: ClassVar[dict[str, dict[str, Any]]] = {}
    hub_pipeline_tag: ClassVar[str] = "text-classification"
    labels: list[str]
    pairs: bool = False

    def head_modules(self, model: PreTrainedModel) -> list[str]:
        return head_modules(model)

    def describe(self) -> dict[str, Any]:
        return {}

    def output_sizes(self) -> dict[str, int]:
        """The last dimension of each output, for checking an exported graph against the artifact."""
        return {"logits": len(self.labels)} if self.labels else {}

    # `tunelab ensemble`: "weighted" is "mean" with weights tuned on dev data
    combine_modes: ClassVar[tuple[str, ...]] = ("mean", "weighted")

    def combine_outputs(self, outputs_list: Sequence[Outputs], weights: Sequence[float], mode: str) -> Outputs:
        """An ensemble's outputs for one batch: the members' outputs on the same inputs combined
        into outputs of the same names and shapes, which ``decode_batch`` then reads as one model's.
        ``mode`` is "mean" (the weighted mean, weights summing to 1) or "vote"; by default every
        output is averaged (numbers, e.g. a regression's), and there are no classes to vote on."""
        if mode != "mean":
            task = getattr(self, "name", type(self).__name__)
            raise ConfigError(f"--combine {mode}: a {task} model has no classes to vote on; use mean or weighted")
        return {name: weighted_mean([o[name] for o in outputs_list], weights) for name in outputs_list[0]}

    def target_collator(self) -> Callable[[list[Any], int], torch.Tensor]:
        """``collate(targets of a batch, padded width) -> tensor``; the default stacks them."""
        return lambda targets, width: torch.tensor(targets)

    def collator(self, pad_token_id: int) -> PaddingCollator:
        return PaddingCollator(pad_token_id, targets=self.target_collator())

    def outputs(self, model_output: Any) -> dict[str, torch.Tensor]:
        return {name: getattr(model_output, name) for name in self.output_names}

    def output_divergence(
        self, a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """How far two passes' outputs of one batch are apart (R-Drop, ``training.rdrop``): by default
        the symmetric KL, (KL(p||q) + KL(q||p)) / 2, of the softmax over the last axis of the first
        output, averaged over items; positions whose target (the first target name, when it has the
        outputs' leading shape) is the ignore index -100 do not count."""
        name = self.output_names[0]
        log_p = torch.log_softmax(a[name].float(), dim=-1)
        log_q = torch.log_softmax(b[name].float(), dim=-1)
        per_item = ((log_p.exp() - log_q.exp()) * (log_p - log_q)).sum(dim=-1) / 2
        target = batch.get(self.target_names[0]) if self.target_names else None
        if target is not None and tuple(target.shape) == tuple(per_item.shape):
            keep = (target != -100).to(per_item.dtype)
            return (per_item * keep).sum() / keep.sum().clamp_min(1.0)
        return per_item.mean()

    def unbatch(self, encoded: EncodedDataset, indices: Sequence[int], outputs: Outputs) -> list[dict[str, np.ndarray]]:
        """Each item's own rows of a batch's outputs; outputs with a sequence axis cut to its length."""
        items = []
        for row, i in enumerate(indices):
            items.append(
                {
                    name: (value[row, : encoded.lengths[i]] if name in self.sequence_keys else value[row])
                    for name, value in outputs.items()
                }
            )
        return items

    def check_pairs(self, texts: Sequence[Any], text_pairs: Sequence[Any] | None) -> None:
        """Pair models take pairs, single-text models single texts: anything else is the user's error."""
        if self.pairs and text_pairs is None:
            raise InputError(
                "this model was trained on text pairs: give a second text for every text "
                "(text_pairs in the API, --pair or a text-pair column on the command line)"
            )
        if not self.pairs and text_pairs is not None:
            raise InputError("this model was trained on single texts, not text pairs: leave out the second texts")
        if text_pairs is not None and len(text_pairs) != len(texts):
            raise InputError(f"got {len(texts)} texts but {len(text_pairs)} text_pairs; give one second text per text")

    def check_facts(self, parts: dict[str, Sequence[Any]], splits: Any) -> CheckFacts:
        """The examples as `tunelab check` compares them; no classes, no facts of the task's own."""
        return CheckFacts(items={name: [check_item(ex) for ex in examples] for name, examples in parts.items()})

    def token_lengths(self, tokenizer: PreTrainedTokenizerBase, examples: Sequence[Any]) -> list[int]:
        """Each example's length in tokens (special tokens included) before any cut; by default from
        ``encode`` without a limit, which must then give one item per example."""
        encoded: EncodedDataset = self.encode(tokenizer, examples, 10**9)  # type: ignore[attr-defined]
        if len(encoded) != len(examples):
            raise NotImplementedError(f"{type(self).__name__} encodes several items per example (token_lengths)")
        return list(encoded.lengths)

    def print_report(self, metrics: dict[str, Any], console: Console | None, title: str) -> None:
        rows = [(k, f"{v:.4f}") for k, v in metrics.items() if isinstance(v, (int, float))]
        from rich.table import Table

        table = Table("metric", "value", title=title)
        for row in rows:
            table.add_row(*row)
        (console or Console()).print(table)

    def write_plots(self, directory: Path, report: dict[str, Any]) -> list[Path]:
        return []

    def record_table(self, records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
        """The header and rows of a predictions CSV (and, by default, of the terminal table)."""
        raise NotImplementedError

    def terminal_rows(self, records: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
        """The table `tunelab predict` prints; the CSV columns unless the task shows them otherwise."""
        return self.record_table(records)

    def card_summary(self) -> str:
        return f"{len(self.labels)} labels: " + shown_names(self.labels)

    def card_metrics(self, metrics: dict[str, Any]) -> dict[str, float]:
        """The results a model card publishes (its ``model-index``), in the report's order: by
        default every top-level float of the task's metrics (counts are ints, tables are dicts)."""
        return {k: v for k, v in metrics.items() if isinstance(v, float)}

    def card_limitations(self, max_length: int) -> list[str]:
        """What the model card's limitations say of this task's model (the core adds the data size,
        what was evaluated and how many examples were longer than ``max_length``)."""
        lines = [f"Inputs longer than {max_length} tokens are cut, in training and in prediction: the rest is unseen."]
        if self.labels:
            lines.append(f"It knows only the {len(self.labels)} labels it was trained on, whatever text it is given.")
        return lines

    def worst_errors(self, encoded: EncodedDataset, limit: int) -> ErrorFinder | None:
        """What finds the split's worst errors for the HTML report; None: the task shows none."""
        return None

    def augment(self, examples: Sequence[Any], augmenter: Augmenter) -> list[Augmented]:
        """New training examples (each with the op that made it): by default the examples'
        ``text`` and ``text_pair`` changed by each op (``dataclasses.replace``), labels kept."""
        from tunelab.augment.apply import augment_texts

        return augment_texts(examples, augmenter)

    def perturb(self, examples: Sequence[Any], augmenter: Augmenter) -> list[Any]:
        """One perturbed copy of each example, every op of ``augmenter`` applied to its texts;
        labels kept (robustness evaluation)."""
        from tunelab.augment.apply import perturb_texts

        return perturb_texts(examples, augmenter)


def check_item(example: Any, classes: Iterable[str] = ()) -> CheckItem:
    """A CheckItem of an example with ``text``, ``text_pair``, ``label``, ``source`` and ``line``
    (tunelab.data.example.Example); a tuple of labels reads "a|b", a number as Python writes it."""
    label = example.label
    shown = "|".join(label) if isinstance(label, tuple) else None if label is None else str(label)
    pair = getattr(example, "text_pair", None)
    text = example.text if pair is None else f"{example.text}\t{pair}"
    return CheckItem(text, shown, str(example.source), int(example.line), tuple(classes))


def shown_lines(lines: Sequence[int], limit: int = 5) -> str:
    """ "4, 9, 12 and 3 more": line numbers for a one-line message."""
    text = ", ".join(str(n) for n in lines[:limit])
    return text + (f" and {len(lines) - limit} more" if len(lines) > limit else "")


def shown_names(names: Iterable[str], limit: int = 30) -> str:
    """`a`, `b`, ... for model cards: at most ``limit`` names, then how many in all."""
    names = list(names)
    text = ", ".join(f"`{n}`" for n in names[:limit])
    return text + (f", ... ({len(names)} in all)" if len(names) > limit else "")


ERROR_TEXT_LIMIT = 300  # characters of an example's text in a row of worst errors


def error_row(example: Any, **fields: Any) -> dict[str, Any]:
    """A row of a task's worst errors: the example's line in its file (when known), its text (and
    second text) cut at ERROR_TEXT_LIMIT characters, then the task's own fields (``text=`` replaces
    the example's text)."""
    row: dict[str, Any] = {}
    if getattr(example, "line", 0):
        row["line"] = int(example.line)
    text = fields.pop("text", getattr(example, "text", None))
    row["text"] = _cut(str(text)) if text is not None else ""
    pair = getattr(example, "text_pair", None)
    if pair is not None:
        row["text_pair"] = _cut(str(pair))
    row.update(fields)
    return row


def _cut(text: str) -> str:
    return text if len(text) <= ERROR_TEXT_LIMIT else text[: ERROR_TEXT_LIMIT - 1] + "…"
