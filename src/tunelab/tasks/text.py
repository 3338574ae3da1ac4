"""What the tasks that read one text (or a text pair) and a target per table row share: text
classification, text regression. Reading files with the columns the model was trained on, raw
input with pair checks, encoding with the fast tokenizer, records and table rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizerBase

from tunelab.data.encoding import EncodedDataset, encode_texts
from tunelab.data.example import Example
from tunelab.data.loading import read_examples
from tunelab.errors import DataError, InputError
from tunelab.tasks.base import BaseTask


class TextTask(BaseTask):
    """A task on rows of (text, optional text pair, target)."""

    def targets(self, examples: Sequence[Example]) -> Any:
        """The labelled examples' training targets, one per example (an array or a list: what the
        collator stacks into ``labels``)."""
        raise NotImplementedError

    def encode(
        self, tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example], max_length: int
    ) -> EncodedDataset:
        labelled = bool(examples) and all(ex.label is not None for ex in examples)
        pairs = [ex.text_pair for ex in examples]
        encoded = encode_texts(
            tokenizer,
            [ex.text for ex in examples],
            pairs if any(p is not None for p in pairs) else None,
            max_length=max_length,
            labels=_as_list(self.targets(examples)) if labelled else None,
        )
        encoded.examples = list(examples)
        return encoded

    # -- files and raw input -------------------------------------------------------------------
    def read_options(self, data: dict[str, Any]) -> dict[str, Any]:
        """Task-specific options of :func:`read_examples` (label parsing), from the data section."""
        return {}

    def read_file(
        self,
        path: str | Path,
        meta: Any,
        *,
        text_column: str | None = None,
        text_pair_column: str | None = None,
        label_column: str | None = None,
        require_labels: bool = True,
        header: str | bool | None = None,
        **_: Any,
    ) -> list[Example]:
        """Read with the format, columns and header setting the model was trained on unless told
        otherwise; when the file lacks those columns, the usual names are detected."""
        data = meta.data_config
        trained = meta.data.reading.get("columns") or {}
        explicit: dict[str, Any] = {
            "text_column": text_column,
            "text_pair_column": text_pair_column,
            "label_column": label_column,
        }
        options: dict[str, Any] = dict(
            format=_format_for(path, data.get("format", "auto"), meta.data.files.get("train")),
            encoding=data.get("encoding", "utf-8"),
            delimiter=data.get("delimiter", "auto"),
            require_labels=require_labels,
            header=data.get("header", "auto") if header is None else header,
            **self.read_options(data),
        )
        remembered: dict[str, Any] = {
            "text_column": text_column or trained.get("text"),
            "text_pair_column": text_pair_column or trained.get("text_pair"),
            "label_column": label_column or (trained.get("label") if require_labels else None),
        }
        try:
            return read_examples(path, **remembered, **options).examples
        except DataError as err:
            if "column" not in err.message or all(explicit.values()):
                raise
            return read_examples(path, **explicit, **options).examples

    def make_examples(self, texts: Any = None, text_pairs: Any = None, tokens: Any = None) -> list[Example]:
        if tokens is not None:
            raise InputError("pre-tokenised input is for token classification; pass texts")
        if texts is None:
            raise InputError("pass the texts to predict")
        if isinstance(texts, str):
            texts = [texts]
        if isinstance(text_pairs, str):
            text_pairs = [text_pairs]
        texts = list(texts)
        self.check_pairs(texts, text_pairs)
        pairs = list(text_pairs) if text_pairs is not None else [None] * len(texts)
        return [Example(text=t, text_pair=p) for t, p in zip(texts, pairs)]

    def check_examples_pairs(self, examples: Sequence[Example], where: str) -> None:
        """A file read for a pair model must have the pair column, and one for a single-text model must not."""
        if not examples:
            return
        has_pairs = examples[0].text_pair is not None
        if has_pairs != self.pairs:
            first = examples[0]
            message = (
                "this model was trained on text pairs; the file has no text-pair column (name it with "
                "--text-pair-column)"
                if self.pairs
                else "this model was trained on single texts; the file has a text-pair column it cannot use"
            )
            raise DataError(f"{where}: {message}", first.source, first.line)

    # -- records -------------------------------------------------------------------------------
    @staticmethod
    def base_record(example: Example) -> dict[str, Any]:
        record: dict[str, Any] = {"text": example.text}
        if example.text_pair is not None:
            record["text_pair"] = example.text_pair
        return record

    @staticmethod
    def text_columns(records: Sequence[dict[str, Any]]) -> tuple[list[str], Callable[[dict[str, Any]], list[str]]]:
        pair = any("text_pair" in r for r in records)
        header = ["text"] + (["text_pair"] if pair else [])
        return header, lambda r: [r["text"]] + ([r.get("text_pair", "")] if pair else [])


def _as_list(targets: Any) -> list[Any]:
    return targets.tolist() if hasattr(targets, "tolist") else list(targets)


def _format_for(path: str | Path, trained: str, train_file: Any) -> str:
    """The format a later file is read in: the one the training files were read in when it was
    explicit (STS-B's tab-separated ``.csv`` files) and the file has the training file's extension;
    otherwise detected from the extension, so a model trained on CSV still reads a ``.jsonl`` file."""
    if trained == "auto" or train_file is None:
        return "auto"
    return trained if Path(path).suffix.lower() == Path(train_file.path).suffix.lower() else "auto"
