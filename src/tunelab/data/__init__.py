"""Reading labelled text from CSV, TSV and JSONL files, and splitting it into train/dev/test."""

from tunelab.data.example import Example
from tunelab.data.labels import check_known_labels, detect_labels
from tunelab.data.loading import LoadedFile, Splits, load_splits, read_examples
from tunelab.data.split import split_examples

__all__ = [
    "Example",
    "LoadedFile",
    "Splits",
    "check_known_labels",
    "detect_labels",
    "load_splits",
    "read_examples",
    "split_examples",
]
