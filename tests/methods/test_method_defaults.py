"""Each method brings its own measured defaults (learning rate, rank, target modules, virtual
tokens), used wherever the user has not set them for that method, and says so at start."""

import io
import json

import pytest
from rich.console import Console

from helpers import make_texts, tiny_overrides, write_csv
from tunelab.config import load_config
from tunelab.config_methods import METHOD_CONFIGS, parse_method_config
from tunelab.training.callbacks import Callback
from tunelab.workflow.train import train, with_method_defaults


def test_every_method_but_full_has_its_own_learning_rate():
    rates = {name: cls.default_learning_rate for name, cls in METHOD_CONFIGS.items()}
    assert rates.pop("full") is None  # full fine-tuning: training.learning_rate
    assert rates == {
        "frozen": 3e-3,
        "lora": 2e-3,
        "adalora": 1e-3,
        "ia3": 5e-3,
        "prefix_tuning": 1e-2,
        "prompt_tuning": 3e-2,
        "p_tuning": 1e-2,
        "adapter": 1e-3,
    }


def test_lora_defaults_are_the_measured_ones_not_peft_s():
    lora = parse_method_config({"name": "lora"})
    assert (lora.r, lora.alpha, lora.target_modules) == (16, 32, "all-linear")
    assert lora.effective_learning_rate(2e-4) == 2e-3
    assert lora.defaults_used() == {"learning_rate": 2e-3, "r": 16, "alpha": 32, "target_modules": "all-linear"}


def test_what_the_user_set_for_the_method_wins():
    lora = parse_method_config({"name": "lora", "r": 8, "learning_rate": 5e-4, "target_modules": ["query"]})
    assert lora.effective_learning_rate(2e-4) == 5e-4
    assert lora.defaults_used() == {"alpha": 32}
    full = parse_method_config({"name": "full"})
    assert full.effective_learning_rate(2e-4) == 2e-4 and full.defaults_used() == {}
    assert parse_method_config({"name": "full", "learning_rate": 1e-5}).effective_learning_rate(2e-4) == 1e-5


def test_the_readme_command_gets_lora_s_rate_and_records_it():
    config = load_config(None, ["data.train=x.csv", "training.learning_rate=2e-4", "method.name=lora"])
    resolved, used = with_method_defaults(config)
    assert resolved.method.learning_rate == 2e-3 and used["learning_rate"] == 2e-3
    assert resolved.training.learning_rate == 2e-4  # full fine-tuning's, untouched
    again, used_again = with_method_defaults(resolved)  # idempotent: a resumed run sees the same config
    assert again.method.learning_rate == 2e-3 and "learning_rate" not in used_again


@pytest.mark.train
def test_training_uses_the_method_rate_and_says_so(tiny_model_dir, tmp_path):
    data = {
        "train": write_csv(tmp_path / "train.csv", make_texts(48, seed=1)),
        "dev": write_csv(tmp_path / "dev.csv", make_texts(12, seed=2)),
    }
    overrides = tiny_overrides(tiny_model_dir, data, **{"training.epochs": 1, "training.learning_rate": 2e-4})
    out = io.StringIO()

    class Rates(Callback):
        def on_train_begin(self, trainer):
            self.rates = {group["initial_lr"] for group in trainer.optimizer.param_groups}

    rates = Rates()
    result = train(
        load_config(None, [*overrides, "method.name=lora"]),
        output_dir=tmp_path / "lora",
        console=Console(file=out, width=400),
        callbacks=[rates],
    )
    text = out.getvalue()
    assert "method lora defaults: learning_rate 0.002, r 16, alpha 32, target_modules all-linear" in text
    assert result.meta.config["method"]["learning_rate"] == 2e-3
    assert rates.rates == {2e-3}  # the optimizer ran at LoRA's rate, not training.learning_rate
    adapter = json.loads((tmp_path / "lora" / "adapter_config.json").read_text())
    assert adapter["r"] == 16 and adapter["lora_alpha"] == 32
    adapted = {name.rsplit(".", 1)[-1] for name in adapter["target_modules"]}
    assert adapted == {"query", "key", "value", "dense"}  # every linear layer (the pooler's too), not the head


def test_loraplus_puts_the_b_matrices_in_a_faster_group(tiny_model_dir):
    from transformers import AutoModelForSequenceClassification

    from tunelab.methods import build_method
    from tunelab.training.optim import build_optimizer

    for ratio, expected in ((1.0, None), (4.0, 4.0)):
        method = build_method(parse_method_config({"name": "lora", "loraplus_lr_ratio": ratio}), str(tiny_model_dir))
        model = method.apply(
            AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=3), ["classifier"]
        )
        scale = method.learning_rate_scale()
        assert (scale is None) == (expected is None)
        optimizer = build_optimizer(model, learning_rate=1e-3, weight_decay=0.01, lr_scale=scale)
        rate_of = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
        assert optimizer.param_groups[0]["lr"] == 1e-3  # the logged rate is the base one
        for name, param in model.named_parameters():
            if param.requires_grad:
                want = 1e-3 * (expected or 1.0) if "lora_B" in name else 1e-3
                assert rate_of[id(param)] == pytest.approx(want), name
