"""Methods that train a subset of a plain model's parameters (frozen backbone, bottleneck
adapters) save only those parameters; loading rebuilds the base and loads them back."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from tunelab.errors import ArtifactLoadError
from tunelab.methods.base import Method

WEIGHTS_FILE = "trained_weights.safetensors"


class PartialWeightsMethod(Method):
    stores_full_model = False

    def save(self, model: torch.nn.Module, directory: Path) -> None:
        if self.merge:
            return super().save(model, directory)
        directory.mkdir(parents=True, exist_ok=True)
        trained = {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}
        save_file(trained, str(directory / WEIGHTS_FILE))

    def load(self, base: torch.nn.Module, directory: Path) -> torch.nn.Module:
        model = self.apply(base, [])
        weights = load_file(str(directory / WEIGHTS_FILE))
        missing = set(weights) - set(dict(model.named_parameters()))
        if missing:
            raise ArtifactLoadError(
                f"{directory / WEIGHTS_FILE} holds weights the model does not have: {sorted(missing)[:5]}"
            )
        model.load_state_dict(weights, strict=False)
        return model
