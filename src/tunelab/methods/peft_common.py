"""The part every PEFT-library method shares: wrapping, the head, saving and loading adapters."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from peft import PeftConfig, PeftModel, TaskType, get_peft_model

from tunelab.methods.base import Method

# peft reads transformers' old `is_gradient_checkpointing` attribute, which warns on every wrap (transformers 5)
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.* is deprecated", category=FutureWarning)


class VirtualTokenTrim(torch.nn.Module):
    """Prompt and P-tuning prepend virtual tokens to the input, so a token-classification model
    returns logits for them too; drop those positions so logits line up with the real tokens."""

    def __init__(self, peft_model: torch.nn.Module, num_virtual_tokens: int) -> None:
        super().__init__()
        self.peft_model = peft_model
        self.num_virtual_tokens = num_virtual_tokens

    def forward(self, **inputs: Any):
        outputs = self.peft_model(**inputs)
        outputs.logits = outputs.logits[:, self.num_virtual_tokens :]
        return outputs


class PeftMethod(Method):
    stores_full_model = False
    adds_virtual_tokens = False

    def peft_config(self, task_type: TaskType, modules_to_save: list[str]) -> PeftConfig:
        raise NotImplementedError

    def apply(self, model: torch.nn.Module, head_modules: list[str]) -> torch.nn.Module:
        # Explicitly the task's head (only modules with weights): never left to name guessing.
        with_weights = [m for m in head_modules if any(True for _ in getattr(model, m).parameters())]
        task_type = TaskType(self.task_type)
        peft_model = get_peft_model(model, self.peft_config(task_type, with_weights))
        return self._wrap_for(peft_model, task_type)

    def _wrap_for(self, peft_model: torch.nn.Module, task_type: TaskType) -> torch.nn.Module:
        if self.adds_virtual_tokens and task_type == TaskType.TOKEN_CLS:
            return VirtualTokenTrim(peft_model, self.config.num_virtual_tokens)
        return peft_model

    @staticmethod
    def _peft(model: torch.nn.Module) -> PeftModel:
        return getattr(model, "peft_model", model)

    def save(self, model: torch.nn.Module, directory: Path) -> None:
        peft_model = self._peft(model)
        if self.merge:
            peft_model.merge_and_unload().save_pretrained(directory, safe_serialization=True)
        else:
            peft_model.save_pretrained(directory, safe_serialization=True)
            (directory / "README.md").unlink(missing_ok=True)  # peft's stub card; tunelab writes its own

    def load(self, base: torch.nn.Module, directory: Path) -> torch.nn.Module:
        peft_model = PeftModel.from_pretrained(base, directory, is_trainable=False)
        return self._wrap_for(peft_model, TaskType(self.task_type))
