"""Text classification's train/dev/test splits: read, carve a stratified dev/test split, check labels."""

from __future__ import annotations

from functools import partial

from tunelab.data.example import Example
from tunelab.data.loading import Splits, pii_masker, read_examples
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


def load_splits(data_config: DataConfig, *, multi_label: bool) -> Splits:
    """Read train (and dev/test files if set); carve the missing dev/test from train per data.split.

    Dev and test files are read with the columns resolved on train, and their labels must all
    appear in the final train split.
    """
    if data_config.train is None:
        raise DataError("no training file: set data.train in the config or pass --set data.train=PATH")
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
    train_file = read(
        data_config.train,
        split="train",
        text_column=data_config.text_column,
        text_pair_column=data_config.text_pair_column,
        label_column=data_config.label_column,
    )
    files = {"train": str(train_file.path)}
    # Dev/test files are read with train's columns; train's labels tell their first row is data.
    train_labels = _label_set(train_file.examples)
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
    train, dev, test = split_examples(train_file.examples, *shares, seed=data_config.split.seed)
    check_carved(
        shares,
        (dev, test),
        len(train_file.examples),
        train_file.path,
        " (at least one example of each label stays in train)",
    )
    sources = split_sources(loaded, dev, test)
    dev = loaded.get("dev", dev)
    test = loaded.get("test", test)

    known = detect_labels(train)
    label_field = train_file.label_column or "label"
    for name, examples in (("dev", dev), ("test", test)):
        # A carved split can still hold a label train lacks: multi-label examples are stratified by
        # their first label only, so a rare second label may land entirely outside train.
        where = name if sources[name] == "file" else f"{name} (carved from train by data.split.{name})"
        check_known_labels(examples, known, where, field=label_field)

    return Splits.read_like(train_file, train, dev, test, sources, files, masker)
