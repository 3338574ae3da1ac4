from tunelab.training.loop import Trainer, TrainState

__all__ = ["Trainer", "TrainState"]
