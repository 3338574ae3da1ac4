"""Text classification's train/dev/test splits: read, carve a stratified dev/test split, check labels."""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import partial
from typing import Any

from tunelab.data.example import Example
from tunelab.data.loading import LoadedFile, Splits, pii_masker, read_examples
from tunelab.data.split import carve_shares, check_carved, split_examples, split_sources
from tunelab.errors import DataError
from tunelab.tasks.text_classification.config import TextClassificationData as DataConfig
from tunelab.tasks.text_classification.labels import check_known_labels, detect_labels


def _label_set(examples: list[Example]) -> set[str]:
    labels: set[str] = set()
    for example in examples:
        if isinstance(example.label, tuple):
            labels.update(example.label)
        elif example.label is not None:
            labels.add(example.label)
    return labels


def load_splits(
    data_config: DataConfig,
    *,
    multi_label: bool,
    train_optional: bool = False,
    known_labels: Collection[str] = (),
    out_of_scope: str | None = None,
    oos_hint: str | None = None,
) -> Splits:
    """Read train (and dev/test files if set); carve the missing dev/test from train per data.split.

    Dev and test files are read with the columns resolved on train, and their labels must all
    appear in the final train split. ``train_optional`` (a zero-shot classifier): without
    data.train the dev/test files alone are read, their labels checked later by the task;
    ``known_labels`` then tell their first row is data.

    ``out_of_scope`` (task.out_of_scope on): the label of out-of-scope rows, allowed in dev/test and
    never a class: training rows with it move to a dev split carved from train, else are dropped
    (a note says so). ``oos_hint``: that label while detection is off (its rows get a hint).
    """
    masker = pii_masker(data_config.mask_pii)
    read = partial(
        read_examples,
        format=data_config.format,
        label_separator=data_config.label_separator,
        multi_label=multi_label,
        encoding=data_config.encoding,
        header=data_config.header,
        delimiter=data_config.delimiter,
        mask_pii=masker,
    )
    if data_config.train is None:
        if not train_optional:
            raise DataError("no training file: set data.train in the config or pass --set data.train=PATH")
        return _without_train(data_config, read, known_labels, masker)
    train_file = read(
        data_config.train,
        split="train",
        text_column=data_config.text_column,
        text_pair_column=data_config.text_pair_column,
        label_column=data_config.label_column,
    )
    files = {"train": str(train_file.path)}
    # Dev/test files are read with train's columns; train's labels tell their first row is data.
    train_labels = _label_set(train_file.examples) | ({out_of_scope} if out_of_scope else set())
    pool, moved = _without_out_of_scope(train_file.examples, out_of_scope)
    loaded: dict[str, list[Example]] = {}
    for name in ("dev", "test"):
        path = getattr(data_config, name)
        if path is not None:
            loaded[name] = read(
                path,
                split=name,
                text_column=train_file.text_column,
                text_pair_column=train_file.text_pair_column,
                label_column=train_file.label_column,
                known_labels=train_labels,
            ).examples
            files[name] = str(path)

    shares = carve_shares(data_config.split, loaded)
    train, dev, test = split_examples(pool, *shares, seed=data_config.split.seed)
    check_carved(
        shares,
        (dev, test),
        len(pool),
        train_file.path,
        " (at least one example of each label stays in train)",
    )
    sources = split_sources(loaded, dev, test)
    dev = loaded.get("dev", dev)
    test = loaded.get("test", test)
    if moved:
        dev = _place_out_of_scope(moved, dev, sources["dev"] == "split", train_file.path)

    known = detect_labels(train)
    label_field = train_file.label_column or "label"
    for name, examples in (("dev", dev), ("test", test)):
        # A carved split can still hold a label train lacks: multi-label examples are stratified by
        # their first label only, so a rare second label may land entirely outside train.
        where = name if sources[name] == "file" else f"{name} (carved from train by data.split.{name})"
        check_known_labels(examples, known, where, field=label_field, out_of_scope=out_of_scope, oos_hint=oos_hint)

    return Splits.read_like(train_file, train, dev, test, sources, files, masker)


def _without_out_of_scope(examples: list[Example], label: str | None) -> tuple[list[Example], list[Example]]:
    """(the training rows, the rows labelled out-of-scope): the latter are never a class."""
    if not label:
        return examples, []
    return [ex for ex in examples if ex.label != label], [ex for ex in examples if ex.label == label]


def _place_out_of_scope(moved: list[Example], dev: list[Example], carved: bool, path: Any) -> list[Example]:
    """Out-of-scope training rows join a dev split carved from train (they tune the threshold);
    with a dev file they are dropped. Either way a note says so."""
    from rich.console import Console

    label = moved[0].label
    where = "join the dev split carved from it" if carved else "are dropped (the dev file tunes the threshold)"
    Console(stderr=True).print(
        f"note: {len(moved)} rows of {path} are labelled '{label}' (out-of-scope, never a class): they {where}"
    )
    return dev + moved if carved else dev


def _without_train(
    data_config: DataConfig, read: Callable[..., LoadedFile], known_labels: Collection[str], masker: Any
) -> Splits:
    """Only the dev/test files (either may be absent): the later one read with the first one's columns."""
    files: dict[str, str] = {}
    loaded: dict[str, LoadedFile] = {}
    columns = {
        "text_column": data_config.text_column,
        "text_pair_column": data_config.text_pair_column,
        "label_column": data_config.label_column,
    }
    for name in ("dev", "test"):
        path = getattr(data_config, name)
        if path is None:
            continue
        first = next(iter(loaded.values()), None)
        if first is not None:
            columns = {
                "text_column": first.text_column,
                "text_pair_column": first.text_pair_column,
                "label_column": first.label_column,
            }
        loaded[name] = read(path, split=name, known_labels=set(known_labels), **columns)
        files[name] = str(path)
    first = next(iter(loaded.values()), None)
    return Splits(
        train=[],
        dev=loaded["dev"].examples if "dev" in loaded else [],
        test=loaded["test"].examples if "test" in loaded else [],
        text_column=first.text_column if first else (data_config.text_column or "text"),
        text_pair_column=first.text_pair_column if first else data_config.text_pair_column,
        label_column=first.label_column if first else (data_config.label_column or "label"),
        dev_source="file" if "dev" in loaded else "none",
        test_source="file" if "test" in loaded else "none",
        files=files,
        header=first.header if first else None,
        format=first.format if first else None,
        delimiter=first.delimiter if first else None,
        masker=masker,
    )
