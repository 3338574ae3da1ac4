"""Training techniques (training/techniques): adversarial training (FGM, PGD, FreeLB), R-Drop, EMA of
the weights, layer-wise learning-rate decay, label smoothing. Units on tiny models built in code;
end-to-end runs on the tiny random BERT (full and LoRA), a tiny decoder, resume and two processes."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console
from safetensors.torch import load_file
from transformers import BertConfig, BertForSequenceClassification, LlamaConfig, LlamaForSequenceClassification

from helpers import build_tiny_bert, build_tiny_decoder, make_texts, make_zh_texts, tiny_overrides, write_csv
from tunelab.config import load_config
from tunelab.config_training import AdversarialConfig
from tunelab.data.example import Example
from tunelab.errors import ConfigError
from tunelab.tasks import build_task
from tunelab.tasks.text_classification.config import TextClassificationConfig
from tunelab.tasks.text_regression.config import TextRegressionConfig
from tunelab.tasks.token_classification.config import TokenClassificationConfig
from tunelab.tasks.token_classification.task import TokenClassificationTask
from tunelab.training.callbacks import Callback
from tunelab.training.optim import build_optimizer
from tunelab.training.techniques.adversarial import Adversary
from tunelab.workflow.resume import compare
from tunelab.workflow.train import TrainingInterrupted, train

QUIET = Console(file=io.StringIO())


def tiny_classifier(layers: int = 2) -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
        num_labels=3,
        initializer_range=0.2,
    )
    return BertForSequenceClassification(config).eval()  # no dropout: gradients comparable between calls


# -- adversarial training: the perturbation -------------------------------------------------------

PADDED = {
    "input_ids": torch.tensor([[2, 5, 6, 7, 8, 3], [2, 9, 3, 0, 0, 0]]),
    "attention_mask": torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]]),
}
LABELS = torch.tensor([0, 2])


def adversarial_step(model, name, **settings):
    """One batch under ``name``; returns the adversary (its last perturbation) and the parameter gradients."""
    adversary = Adversary(AdversarialConfig(name=name, **settings), model)

    def objective():
        loss = torch.nn.functional.cross_entropy(model(**PADDED).logits, LABELS)
        return loss, loss

    clean = adversary.run(objective, PADDED, torch.Tensor.backward, torch.Tensor.backward, contextlib.nullcontext)
    assert not model.get_input_embeddings()._forward_hooks  # the hook is gone after the step
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return adversary, grads, clean


def clean_grads(model):
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(**PADDED).logits, LABELS).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    return grads


@pytest.mark.parametrize(
    "name,settings,per_example",
    [
        ("fgm", {"epsilon": 0.5}, False),
        ("pgd", {"epsilon": 0.5, "alpha": 0.3, "steps": 3}, False),
        ("pgd", {"epsilon": 0.5, "alpha": 0.2, "steps": 2, "init": 0.4}, False),
        ("freelb", {"epsilon": 0.05, "alpha": 0.04, "steps": 3, "init": 0.2}, True),
    ],
)
def test_perturbation_is_bounded_and_leaves_padding_alone(name, settings, per_example):
    model = tiny_classifier()
    adversary, grads, clean = adversarial_step(model, name, **settings)
    delta = adversary.last_delta
    assert delta.shape == (2, 6, 16)
    assert torch.all(delta[1, 3:] == 0)  # padding untouched
    assert torch.all(delta[0].abs().sum(-1) > 0) and torch.all(delta[1, :3].abs().sum(-1) > 0)
    if per_example:
        norms = torch.linalg.vector_norm(delta.reshape(2, -1), dim=1)
        assert torch.all(norms <= settings["epsilon"] + 1e-6) and torch.all(norms > 0)
    else:
        norm = float(torch.linalg.vector_norm(delta))
        assert norm <= settings["epsilon"] + 1e-6
        if name == "fgm":
            assert norm == pytest.approx(settings["epsilon"], rel=1e-5)
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(model(**PADDED).logits, LABELS)
    assert float(clean) == pytest.approx(float(expected))
    assert all(torch.isfinite(g).all() for g in grads.values())


@pytest.mark.parametrize(
    "name,settings",
    [("fgm", {"epsilon": 1e-7}), ("freelb", {"epsilon": 1e-7, "alpha": 1e-7, "init": 1e-7, "steps": 3})],
)
def test_clean_gradients_are_kept_with_the_adversarial_ones(name, settings):
    """With a vanishing perturbation each method's gradient is clean + adversarial = twice the
    clean one: FGM sums both passes, FreeLB keeps the clean loss (the reference code would give 1x)."""
    model = tiny_classifier()
    clean = clean_grads(model)
    _, grads, _ = adversarial_step(model, name, **settings)
    for key, value in clean.items():
        torch.testing.assert_close(grads[key], 2 * value, rtol=1e-4, atol=1e-6)


def test_frozen_embeddings_are_perturbed_without_their_gradient():
    """LoRA and the other peft methods freeze the embedding matrix: the perturbation still works."""
    model = tiny_classifier()
    model.get_input_embeddings().weight.requires_grad_(False)
    adversary, grads, _ = adversarial_step(model, "pgd", epsilon=0.5, alpha=0.3, steps=2)
    assert model.get_input_embeddings().weight.grad is None
    assert "classifier.weight" in grads and float(torch.linalg.vector_norm(adversary.last_delta)) > 0


def test_a_model_without_input_embeddings_is_a_config_error():
    with pytest.raises(ConfigError, match="training.adversarial.name=fgm"):
        Adversary(AdversarialConfig(name="fgm"), torch.nn.Linear(2, 2))


# -- configuration ------------------------------------------------------------------------------------


def test_adversarial_config_defaults_shorthand_and_errors(tiny_model_dir, toy_data):
    def config(**settings):
        return load_config(None, tiny_overrides(tiny_model_dir, toy_data, **settings)).training

    freelb = config(**{"training.adversarial": "freelb"}).adversarial
    assert freelb.model_dump() == {"name": "freelb", "epsilon": 0.0, "alpha": 0.03, "steps": 3, "init": 0.05}
    pgd = AdversarialConfig(name="pgd", steps=5)
    assert (pgd.epsilon, pgd.alpha, pgd.steps, pgd.init) == (1.0, 0.3, 5, 0.0)
    assert set(AdversarialConfig().model_dump().values()) == {"none", None}
    with pytest.raises(ConfigError, match=r"training.adversarial.steps is not used by adversarial training 'fgm'"):
        config(**{"training.adversarial.name": "fgm", "training.adversarial.steps": 2})
    with pytest.raises(ConfigError, match="epsilon must be > 0 for pgd"):
        config(**{"training.adversarial.name": "pgd", "training.adversarial.epsilon": 0})
    with pytest.raises(ConfigError, match="training.ema"):
        config(**{"training.ema": 1.5})


def test_resume_rules_for_the_new_keys(tiny_model_dir, toy_data):
    new = {"config": load_config(None, tiny_overrides(tiny_model_dir, toy_data)).to_dict()}
    old = copy.deepcopy(new)
    for key in ("adversarial", "rdrop", "ema", "layer_decay", "label_smoothing"):
        del old["config"]["training"][key]  # a run.json written before these keys existed
    assert compare(old, new) == ([], [])

    def changed(**training):
        after = copy.deepcopy(new)
        after["config"]["training"].update(training)
        return after

    adjustable, fixed = compare(
        new, changed(rdrop=1.0, label_smoothing=0.1, adversarial=AdversarialConfig(name="fgm").model_dump())
    )
    assert not fixed and len(adjustable) == 4, adjustable  # adversarial name and epsilon, rdrop, smoothing
    ema = changed(ema=0.99)
    assert compare(new, ema)[1] == ["training.ema: None -> 0.99"]  # switching the average on: refused
    assert compare(ema, changed(ema=0.999)) == (["training.ema: 0.99 -> 0.999"], [])  # another decay: allowed
    assert compare(new, changed(layer_decay=0.8))[1] == ["training.layer_decay: 1.0 -> 0.8"]


# -- R-Drop: the tasks' divergence ----------------------------------------------------------------------


def symmetric_kl(a, b):
    p, q = torch.softmax(a, -1), torch.softmax(b, -1)
    return ((p * (p / q).log()).sum(-1) + (q * (q / p).log()).sum(-1)) / 2


def test_divergence_single_label_classification():
    task = build_task(TextClassificationConfig(), [Example(f"t{i}", label=x) for i, x in enumerate("abca")])
    a, b = torch.randn(4, 3), torch.randn(4, 3)
    batch = {"labels": torch.tensor([0, 1, 2, 0])}
    assert float(task.output_divergence({"logits": a}, {"logits": a.clone()}, batch)) == pytest.approx(0.0, abs=1e-7)
    value = task.output_divergence({"logits": a}, {"logits": b}, batch)
    assert float(value) > 0
    assert float(value) == pytest.approx(float(symmetric_kl(a, b).mean()), rel=1e-5)


def test_divergence_multi_label_is_bernoulli_kl():
    train = [Example("x", label=("a", "b")), Example("y", label=("b",)), Example("z", label=())]
    task = build_task(TextClassificationConfig(multi_label=True), train)
    a, b = torch.randn(3, 2), torch.randn(3, 2)
    assert float(task.output_divergence({"logits": a}, {"logits": a.clone()}, {})) == pytest.approx(0.0, abs=1e-7)
    p, q = torch.sigmoid(a), torch.sigmoid(b)
    kl = (
        p * (p / q).log()
        + (1 - p) * ((1 - p) / (1 - q)).log()
        + q * (q / p).log()
        + (1 - q) * ((1 - q) / (1 - p)).log()
    )
    value = task.output_divergence({"logits": a}, {"logits": b}, {})
    assert float(value) > 0 and float(value) == pytest.approx(float(kl.sum(-1).mean() / 2), rel=1e-5)


def test_divergence_ner_ignores_unlabelled_positions():
    task = TokenClassificationTask(TokenClassificationConfig(), ["LOC", "PER"])
    labels = torch.tensor([[0, 1, -100, 2], [3, -100, -100, -100]])
    a = torch.randn(2, 4, len(task.labels))
    b = a.clone()
    b[labels == -100] = torch.randn(int((labels == -100).sum()), len(task.labels))  # differs where nothing counts
    assert float(task.output_divergence({"logits": a}, {"logits": b}, {"labels": labels})) == pytest.approx(0, abs=1e-7)
    c = torch.randn(2, 4, len(task.labels))
    value = task.output_divergence({"logits": a}, {"logits": c}, {"labels": labels})
    assert float(value) == pytest.approx(float(symmetric_kl(a, c)[labels != -100].mean()), rel=1e-5)


def test_divergence_regression_is_mse_and_label_smoothing_is_refused():
    train = [Example("a", label=1.0), Example("b", label=2.0), Example("c", label=4.0)]
    task = build_task(TextRegressionConfig(), train)
    a, b = torch.randn(3, 1), torch.randn(3, 1)
    assert float(task.output_divergence({"logits": a}, {"logits": a.clone()}, {})) == 0.0
    assert float(task.output_divergence({"logits": a}, {"logits": b}, {})) == pytest.approx(
        float(((a - b) ** 2).mean())
    )
    with pytest.raises(ConfigError, match="training.label_smoothing=0.1: a regression loss has no labels"):
        task.loss_fn(train, label_smoothing=0.1)


def test_label_smoothing_reaches_the_classification_losses():
    train = [Example(f"t{i}", label=x) for i, x in enumerate("abca")]
    logits, labels = torch.tensor([[9.0, -9.0, -9.0]]), torch.tensor([0])
    task = build_task(TextClassificationConfig(), train)
    plain = task.loss_fn(train)({"logits": logits}, {"labels": labels})
    smooth = task.loss_fn(train, label_smoothing=0.3)({"logits": logits}, {"labels": labels})
    expected = torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.3)
    assert float(plain) < 1e-6 and float(smooth) == pytest.approx(float(expected)) and float(smooth) > 1.0
    multi = build_task(
        TextClassificationConfig(multi_label=True), [Example("x", label=("a",)), Example("y", label=("b",))]
    )
    targets = torch.tensor([[1.0, 0.0]])
    value = multi.loss_fn([], label_smoothing=0.2)({"logits": logits[:, :2]}, {"labels": targets})
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits[:, :2], torch.tensor([[0.9, 0.1]]))
    assert float(value) == pytest.approx(float(bce))
    ner = TokenClassificationTask(TokenClassificationConfig(), ["LOC"])
    assert ner.loss_fn([], label_smoothing=0.1).loss.label_smoothing == 0.1


# -- layer-wise learning-rate decay -----------------------------------------------------------------


def group_of(optimizer, param):
    return next(g for g in optimizer.param_groups if any(p is param for p in g["params"]))


def test_layer_decay_gives_each_layer_its_power():
    model = tiny_classifier(layers=3)
    optimizer = build_optimizer(model, learning_rate=1.0, weight_decay=0.01, layer_decay=0.5)
    assert optimizer.param_groups[0]["lr"] == 1.0  # the full rate first: the one the loop logs
    expected = {"bert.embeddings.": 0.5**4, "bert.encoder.layer.0.": 0.5**3, "bert.encoder.layer.1.": 0.25}
    expected |= {"bert.encoder.layer.2.": 0.5, "bert.pooler.": 1.0, "classifier.": 1.0}
    for name, param in model.named_parameters():
        group = group_of(optimizer, param)
        assert group["lr"] == expected[next(k for k in expected if name.startswith(k))], name
        assert group["weight_decay"] == (0.01 if param.dim() >= 2 else 0.0), name
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(model.parameters()))
    assert len(build_optimizer(model, learning_rate=1.0, weight_decay=0.01).param_groups) == 2  # off: as before


def test_layer_decay_on_a_decoder_and_with_lora():
    import peft

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=40, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, num_labels=2
    )
    model = LlamaForSequenceClassification(config)
    optimizer = build_optimizer(model, learning_rate=1.0, weight_decay=0.0, layer_decay=0.5)
    lrs = {name: group_of(optimizer, p)["lr"] for name, p in model.named_parameters()}
    assert lrs["model.embed_tokens.weight"] == 0.125 and lrs["model.layers.0.mlp.up_proj.weight"] == 0.25
    assert lrs["model.layers.1.mlp.up_proj.weight"] == 0.5 and lrs["model.norm.weight"] == lrs["score.weight"] == 1.0

    lora = peft.get_peft_model(
        tiny_classifier(), peft.LoraConfig(task_type="SEQ_CLS", target_modules=["query", "value"], r=2)
    )
    optimizer = build_optimizer(lora, learning_rate=1.0, weight_decay=0.0, layer_decay=0.5)
    lrs = {name: group_of(optimizer, p)["lr"] for name, p in lora.named_parameters() if p.requires_grad}
    assert {lr for n, lr in lrs.items() if "layer.0." in n} == {0.25} and {
        lr for n, lr in lrs.items() if "layer.1." in n
    } == {0.5}
    assert {lr for n, lr in lrs.items() if "classifier" in n} == {1.0}
    with pytest.raises(ConfigError, match="training.layer_decay: found no numbered layers"):
        build_optimizer(
            torch.nn.Sequential(torch.nn.Linear(2, 2)), learning_rate=1.0, weight_decay=0.0, layer_decay=0.9
        )


# -- end to end -------------------------------------------------------------------------------------------

TECHNIQUES = {  # the setting, and the run's console line
    "fgm": ("training.adversarial=fgm", "fgm(epsilon=1)"),
    "pgd": ("training.adversarial=pgd", "pgd(epsilon=1, alpha=0.3, steps=3, init=0)"),
    "freelb": ("training.adversarial=freelb", "freelb(epsilon=0, alpha=0.03, steps=3, init=0.05)"),
    "rdrop": ("training.rdrop=1.0", "rdrop(1)"),
    "ema": ("training.ema=0.9", "ema(0.9)"),
    "layer_decay": ("training.layer_decay=0.8", "layer_decay(0.8)"),
    "label_smoothing": ("training.label_smoothing=0.1", "label_smoothing(0.1)"),
}


@pytest.fixture(scope="module")
def embedding_scaled_model(tmp_path_factory) -> Path:
    """The tiny BERT with token vectors of norm about 1, as in real models (MiniLM: 1.1): with the
    default 0.02 init (norm 0.1) the default epsilons would drown every token."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert-02"), initializer_range=0.2)


def run(model_dir, data, out, extra=(), *, method="full", epochs=5, console=None, callbacks=None, flags=None):
    overrides = tiny_overrides(model_dir, data, **{"training.epochs": epochs, "training.log_every": 1})
    if method != "full":
        overrides += [f"method.name={method}", "method.learning_rate=0.01"]
    config = load_config(None, overrides + list(extra))
    return train(config, output_dir=out, console=console or QUIET, callbacks=callbacks, **(flags or {}))


def train_losses(out: Path) -> list[float]:
    log = [json.loads(line) for line in (out / "logs" / "train_log.jsonl").read_text().splitlines()]
    return [r["train_loss"] for r in log if "train_loss" in r]


@pytest.mark.train
@pytest.mark.parametrize("method", ["full", "lora"])
@pytest.mark.parametrize("technique", list(TECHNIQUES))
def test_each_technique_trains(technique, method, embedding_scaled_model, toy_data, tmp_path):
    console = Console(file=io.StringIO(), width=200)
    setting, line = TECHNIQUES[technique]
    result = run(embedding_scaled_model, toy_data, tmp_path / "out", [setting], method=method, console=console)
    assert f"techniques: {line}" in console.file.getvalue()
    losses = train_losses(tmp_path / "out")
    per_epoch = len(losses) // 5
    assert np.mean(losses[-per_epoch:]) < np.mean(losses[:per_epoch]) - 0.05, losses
    dev = [h["metrics"]["loss"] for h in result.meta["training"]["history"]]
    assert min(dev[1:]) < dev[0], dev
    assert result.report["metrics"]["accuracy"] > 0.45  # chance: 1/3


@pytest.mark.train
def test_no_technique_prints_no_technique_line(tiny_model_dir, toy_data, tmp_path):
    console = Console(file=io.StringIO(), width=200)
    run(tiny_model_dir, toy_data, tmp_path / "out", epochs=1, console=console)
    assert "techniques:" not in console.file.getvalue()


@pytest.mark.train
@pytest.mark.parametrize(
    "extra",
    [
        ["training.adversarial.name=pgd", "training.adversarial.init=0.5", "training.rdrop=1", "training.ema=0.9"],
        ["training.adversarial=freelb", "training.layer_decay=0.8", "training.label_smoothing=0.1"],
    ],
    ids=["pgd-rdrop-ema", "freelb-llrd-ls"],
)
def test_reproducible_from_the_seed(extra, embedding_scaled_model, toy_data, tmp_path):
    for name in ("a", "b"):
        run(embedding_scaled_model, toy_data, tmp_path / name, extra, epochs=2)
    wa, wb = (load_file(str(tmp_path / name / "model.safetensors")) for name in ("a", "b"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    run(embedding_scaled_model, toy_data, tmp_path / "seed", extra + ["training.seed=7"], epochs=2)
    other = load_file(str(tmp_path / "seed" / "model.safetensors"))
    assert any(not torch.equal(wa[k], other[k]) for k in wa)


class KeepAverage(Callback):
    """The weight average and the training weights at every improving evaluation."""

    def __init__(self) -> None:
        self.average: dict[str, torch.Tensor] = {}
        self.training: dict[str, torch.Tensor] = {}

    def on_evaluate(self, trainer, metrics, improved):
        if improved:
            self.average = {k: v.detach().cpu().clone() for k, v in trainer.techniques.ema.averaged().items()}
            self.training = {k: p.detach().cpu().clone() for k, p in trainer.bare_model.named_parameters()}


@pytest.mark.train
def test_ema_artifact_holds_the_average(embedding_scaled_model, toy_data, tmp_path):
    keep = KeepAverage()
    result = run(embedding_scaled_model, toy_data, tmp_path / "out", ["training.ema=0.95"], callbacks=[keep])
    saved = load_file(str(tmp_path / "out" / "model.safetensors"))
    assert keep.average and set(keep.average) <= set(saved)
    for name, value in keep.average.items():
        assert torch.equal(saved[name], value), name
    assert any(not torch.equal(keep.training[n], keep.average[n]) for n in keep.average)  # an average, not a copy
    # the in-loop dev metric of the best step was computed on the average, as the report on the artifact is
    best = next(h for h in result.meta["training"]["history"] if h["step"] == result.meta["training"]["best_step"])
    assert best["metrics"]["accuracy"] == pytest.approx(result.report["metrics"]["accuracy"])


class SignalAt(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, trainer, logs):
        if trainer.state.global_step == self.step:
            signal.raise_signal(signal.SIGTERM)


@pytest.mark.train
def test_resume_with_ema_freelb_and_rdrop_gives_the_uninterrupted_weights(embedding_scaled_model, toy_data, tmp_path):
    extra = ["training.ema=0.9", "training.adversarial=freelb", "training.rdrop=0.5"]
    straight = run(embedding_scaled_model, toy_data, tmp_path / "straight", extra, epochs=3)
    with pytest.raises(TrainingInterrupted):
        run(embedding_scaled_model, toy_data, tmp_path / "resumed", extra, epochs=3, callbacks=[SignalAt(11)])
    resumed = run(embedding_scaled_model, toy_data, tmp_path / "resumed", extra, epochs=3, flags={"resume": True})
    assert resumed.meta["training"]["history"] == straight.meta["training"]["history"]
    ws, wr = (load_file(str(tmp_path / n / "model.safetensors")) for n in ("straight", "resumed"))
    assert all(torch.equal(ws[k], wr[k]) for k in ws)


@pytest.mark.train
def test_decoder_with_lora_and_adversarial_training(tmp_path):
    model_dir = build_tiny_decoder(tmp_path / "gemma3", family="gemma3")
    data = {
        "train": write_csv(tmp_path / "train.csv", make_zh_texts(96, seed=1)),
        "dev": write_csv(tmp_path / "dev.csv", make_zh_texts(24, seed=2)),
    }
    extra = ["training.adversarial.name=fgm", "training.adversarial.epsilon=0.5", "training.rdrop=0.5"]
    result = run(model_dir, data, tmp_path / "out", extra, method="lora")
    losses = train_losses(tmp_path / "out")
    per_epoch = len(losses) // 5
    assert np.mean(losses[-per_epoch:]) < np.mean(losses[:per_epoch]), losses
    assert result.meta["training"]["stop_reason"] == "completed"


# -- two processes (DDP on gloo) --------------------------------------------------------------------------


@pytest.mark.train  # torchrun trains in child processes
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")
def test_two_processes_with_pgd_rdrop_and_ema(embedding_scaled_model, tmp_path):
    """Several forward/backward passes per batch (the earlier ones under no_sync, PGD's middle ones
    differentiating the perturbation only), the doubled R-Drop batch and the weight average work
    across processes: one artifact, trained."""
    here = Path(__file__).resolve()
    data = {
        "train": write_csv(tmp_path / "train.csv", make_texts(96, seed=1)),
        "dev": write_csv(tmp_path / "dev.csv", make_texts(24, seed=2)),
    }
    config = tmp_path / "c.yaml"
    config.write_text("task:\n  name: text_classification\n")
    out = tmp_path / "model"
    args = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    args += ["-m", "tunelab.cli.app", "train", str(config), "-o", str(out)]
    settings = {
        "training.epochs": 3,
        "training.batch_size": 8,
        "training.adversarial": "pgd",
        "training.rdrop": 0.5,
        "training.ema": 0.9,
    }
    for item in tiny_overrides(embedding_scaled_model, data, **settings):
        args += ["--set", item]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env["CUDA_VISIBLE_DEVICES"] = ""
    env["PYTHONPATH"] = os.pathsep.join([str(here.parent), str(here.parents[1]), env.get("PYTHONPATH", "")])
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert output.count("techniques: pgd(epsilon=1, alpha=0.3, steps=3, init=0), rdrop(0.5), ema(0.9)") == 1
    meta = json.loads((out / "tunelab.json").read_text())
    assert meta["training"]["num_processes"] == 2 and meta["training"]["stop_reason"] == "completed"
    assert meta["config"]["training"]["adversarial"]["name"] == "pgd"
    dev = [h["metrics"]["loss"] for h in meta["training"]["history"]]
    assert dev[-1] < dev[0], dev
