"""Evaluation for text classification: metrics, terminal report, JSON output and PNG plots."""

from tunelab.evaluation.classification import METRIC_DIRECTIONS, classification_metrics, metric_direction
from tunelab.evaluation.plots import plot_confusion_matrix, plot_multilabel_counts, plot_training_curves
from tunelab.evaluation.report import print_classification_report, render_classification_report, write_json

__all__ = [
    "METRIC_DIRECTIONS",
    "classification_metrics",
    "metric_direction",
    "plot_confusion_matrix",
    "plot_multilabel_counts",
    "plot_training_curves",
    "print_classification_report",
    "render_classification_report",
    "write_json",
]
