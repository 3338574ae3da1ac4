from tunelab.inference.predictor import Predictor, load

__all__ = ["Predictor", "load"]
