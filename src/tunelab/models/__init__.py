from tunelab.models.resolve import PACKAGED_MODELS, ResolvedModel, resolve_model

__all__ = ["PACKAGED_MODELS", "ResolvedModel", "resolve_model"]
