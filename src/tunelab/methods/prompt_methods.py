"""Prompt-learning methods from peft: prefix tuning, prompt tuning, P-tuning. Not mergeable:
their virtual tokens exist only at run time."""

from peft import PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig, PromptTuningInit

from tunelab.methods.peft_common import PeftMethod
from tunelab.registry import METHODS


@METHODS.register("prefix_tuning")
class PrefixTuningMethod(PeftMethod):
    name = "prefix_tuning"
    mergeable = False

    def peft_config(self, task_type, modules_to_save):
        c = self.config
        extra = {"encoder_hidden_size": c.encoder_hidden_size} if c.encoder_hidden_size else {}
        return PrefixTuningConfig(
            task_type=task_type,
            num_virtual_tokens=c.num_virtual_tokens,
            prefix_projection=c.prefix_projection,
            modules_to_save=modules_to_save,
            **extra,
        )


@METHODS.register("prompt_tuning")
class PromptTuningMethod(PeftMethod):
    name = "prompt_tuning"
    mergeable = False
    adds_virtual_tokens = True

    def peft_config(self, task_type, modules_to_save):
        c = self.config
        init = {}
        if c.init_text:
            init = {
                "prompt_tuning_init": PromptTuningInit.TEXT,
                "prompt_tuning_init_text": c.init_text,
                "tokenizer_name_or_path": self.base_path,
            }
        return PromptTuningConfig(
            task_type=task_type, num_virtual_tokens=c.num_virtual_tokens, modules_to_save=modules_to_save, **init
        )


@METHODS.register("p_tuning")
class PTuningMethod(PeftMethod):
    name = "p_tuning"
    mergeable = False
    adds_virtual_tokens = True

    def peft_config(self, task_type, modules_to_save):
        c = self.config
        return PromptEncoderConfig(
            task_type=task_type,
            num_virtual_tokens=c.num_virtual_tokens,
            encoder_hidden_size=c.encoder_hidden_size,
            encoder_reparameterization_type=c.encoder_type,
            modules_to_save=modules_to_save,
        )
