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

    def learning_rate_scale(self):
        """LoRA+ (Hayou et al. 2024; peft's ``create_loraplus_optimizer``, LLaMA-Factory's
        ``loraplus_lr_ratio``): the B matrices learn ``loraplus_lr_ratio`` times faster than A."""
        ratio = float(self.config.loraplus_lr_ratio)
        if ratio == 1.0:
            return None
        return lambda name: ratio if "lora_B" in name or "lora_embedding_B" in name else 1.0
