"""LoRA: low-rank updates on the attention (or chosen) projections; mergeable."""

from peft import LoraConfig

from tunelab.methods.peft_common import PeftMethod
from tunelab.registry import METHODS


@METHODS.register("lora")
class LoraMethod(PeftMethod):
    name = "lora"

    def peft_config(self, task_type, modules_to_save):
        c = self.config
        return LoraConfig(
            task_type=task_type,
            r=c.r,
            lora_alpha=c.alpha,
            lora_dropout=c.dropout,
            target_modules=c.target_modules,
            bias=c.bias,
            modules_to_save=modules_to_save,
        )
