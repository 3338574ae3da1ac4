"""Plots every task can use (PNG, matplotlib without pyplot): training curves, confusion matrices, label counts."""

from tunelab.evaluation.plots import plot_confusion_matrix, plot_multilabel_counts, plot_training_curves

__all__ = ["plot_confusion_matrix", "plot_multilabel_counts", "plot_training_curves"]
