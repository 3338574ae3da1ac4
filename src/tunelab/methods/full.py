"""Full fine-tuning: every parameter trains; the artifact is a plain model."""

from tunelab.methods.base import Method
from tunelab.registry import METHODS


@METHODS.register("full")
class FullMethod(Method):
    name = "full"
