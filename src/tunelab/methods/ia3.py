"""IA3: learned rescaling vectors on keys, values and feed-forward activations; mergeable."""

from peft import IA3Config

from tunelab.methods.peft_common import PeftMethod
from tunelab.registry import METHODS


@METHODS.register("ia3")
class Ia3Method(PeftMethod):
    name = "ia3"

    def peft_config(self, task_type, modules_to_save):
        c = self.config
        return IA3Config(
            task_type=task_type,
            target_modules=c.target_modules,
            feedforward_modules=c.feedforward_modules,
            modules_to_save=modules_to_save,
        )
