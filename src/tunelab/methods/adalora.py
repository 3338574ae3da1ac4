"""AdaLoRA: LoRA whose rank budget is reallocated during training by importance.

peft's allocator must be called after every optimizer step and before the gradients are
cleared (`update_and_allocate`), and its orthogonality regulariser added to the loss; the
Hugging Face Trainer does neither unless told, so tunelab's loop calls both through the hooks.
"""

from __future__ import annotations

import torch
from peft import AdaLoraConfig

from tunelab.methods.peft_common import PeftMethod
from tunelab.registry import METHODS


@METHODS.register("adalora")
class AdaLoraMethod(PeftMethod):
    name = "adalora"

    def peft_config(self, task_type, modules_to_save):
        c = self.config
        # total_step and the schedule are set from the real step count in on_train_begin.
        return AdaLoraConfig(
            task_type=task_type,
            init_r=c.init_r,
            target_r=c.target_r,
            lora_alpha=c.alpha,
            lora_dropout=c.dropout,
            target_modules=c.target_modules,
            total_step=100,
            tinit=10,
            tfinal=20,
            deltaT=c.delta_t,
            beta1=c.beta1,
            beta2=c.beta2,
            orth_reg_weight=c.orth_reg_weight,
            modules_to_save=modules_to_save,
        )

    def on_train_begin(self, model: torch.nn.Module, total_steps: int) -> None:
        config = self._peft(model).peft_config["default"]
        config.total_step = max(total_steps, 3)
        config.tinit = min(round(self.config.tinit * total_steps), config.total_step - 2)
        config.tfinal = min(round(self.config.tfinal * total_steps), config.total_step - config.tinit - 1)

    def regularization(self, model: torch.nn.Module) -> torch.Tensor | None:
        # peft adds this only when the model computes the loss itself; tunelab's tasks compute it.
        terms = []
        for name, param in self._peft(model).named_parameters():
            if ("lora_A" in name or "lora_B" in name) and param.requires_grad:
                cov = param @ param.T if "lora_A" in name else param.T @ param
                eye = torch.eye(*cov.size(), out=torch.empty_like(cov))
                terms.append(torch.norm(cov - eye, p="fro"))
        if not terms:
            return None
        return self.config.orth_reg_weight * torch.stack(terms).mean()

    def after_optimizer_step(self, model: torch.nn.Module, step: int) -> None:
        self._peft(model).base_model.update_and_allocate(step)

    def save(self, model: torch.nn.Module, directory) -> None:
        # The allocator's final rank pattern belongs to the last step's weights; the artifact holds
        # the best step's (restored after training), whose pruned ranks may differ. Describe the
        # ranks actually present, so peft's save (which trims pruned ranks) and a reload reproduce
        # these weights exactly.
        peft_model = self._peft(model)
        inner = peft_model.base_model.model
        pattern = {name: (param != 0).view(-1).tolist() for name, param in inner.named_parameters() if "lora_E" in name}
        if pattern:
            peft_model.peft_config["default"].rank_pattern = pattern
        super().save(model, directory)
