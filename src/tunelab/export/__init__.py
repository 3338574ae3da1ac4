"""Exporting a trained artifact for serving: ONNX (fp32 or int8) with a parity check against torch."""

from tunelab.export.onnx import ExportError, export_onnx

__all__ = ["ExportError", "export_onnx"]
