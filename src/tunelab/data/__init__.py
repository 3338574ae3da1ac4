"""What every task shares about data: file readers, column detection, splitting, length-bucketed batching."""

from tunelab.data.example import Example
from tunelab.data.loading import LoadedFile, Splits, read_examples
from tunelab.data.split import split_examples

__all__ = ["Example", "LoadedFile", "Splits", "read_examples", "split_examples"]
