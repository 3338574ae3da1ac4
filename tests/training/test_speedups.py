"""The training step's speed-ups change no arithmetic that matters: fused/lazy AdamW, clipping with
sparse gradients, fast dropout masks and the fast-dropout attention path."""

from __future__ import annotations

import copy

import pytest
import torch
from rich.console import Console
from safetensors.torch import load_file
from transformers import BertConfig, BertModel

from helpers import tiny_overrides
from tunelab.config import load_config
from tunelab.training.dropout import ATTENTION, FastDropout, apply_dropout, fast_dropout
from tunelab.training.optim import AdamW, build_optimizer, clip_grad_norm, lazy_embeddings, sparse_gradients
from tunelab.workflow.train import train

QUIET = Console(file=open("/dev/null", "w"))


class Bag(torch.nn.Module):
    """An embedding table and a linear layer: the smallest model with an input embedding."""

    def __init__(self, rows: int = 10, width: int = 4) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(rows, width)
        self.out = torch.nn.Linear(width, 1)

    def get_input_embeddings(self) -> torch.nn.Embedding:
        return self.embed

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.out(self.embed(ids)).pow(2).sum()


def twin_steps(batches, *, max_norm=0.5, fused=True):
    """The same model trained by torch's AdamW (dense gradients) and by ours (sparse embedding)."""
    torch.manual_seed(0)
    dense = Bag()
    lazy = copy.deepcopy(dense)
    lazy.embed.sparse = True
    ours = AdamW(lazy.parameters(), lr=0.1, weight_decay=0.1, fused=fused)
    reference = torch.optim.AdamW(dense.parameters(), lr=0.1, weight_decay=0.1)
    norms = []
    for ids in batches:
        for model, optimizer in ((dense, reference), (lazy, ours)):
            optimizer.zero_grad()
            model(ids).backward()
        norms.append(
            (
                float(torch.nn.utils.clip_grad_norm_(dense.parameters(), max_norm)),
                float(clip_grad_norm(lazy.parameters(), max_norm)),
            )
        )
        reference.step()
        ours.step()
    return dense, lazy, reference, ours, norms


def test_lazy_adamw_equals_adamw_when_every_row_is_used():
    # every row in every batch (row 1 twice: a sparse gradient with a repeated index)
    batches = [torch.tensor([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [1, 1, 2, 2, 3]])] * 6
    dense, lazy, reference, ours, norms = twin_steps(batches)
    for a, b in norms:
        assert a == pytest.approx(b, rel=1e-5)
    assert norms[0][0] > 0.5  # clipping did something
    torch.testing.assert_close(lazy.embed.weight, dense.embed.weight, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(lazy.out.weight, dense.out.weight, rtol=1e-5, atol=1e-6)
    # the same state layout as torch's AdamW: checkpoints load either way
    mine, theirs = ours.state_dict()["state"], reference.state_dict()["state"]
    assert mine.keys() == theirs.keys()
    for key in mine:
        assert mine[key].keys() == theirs[key].keys()
        torch.testing.assert_close(mine[key]["exp_avg"], theirs[key]["exp_avg"], rtol=1e-5, atol=1e-7)
        assert float(mine[key]["step"]) == float(theirs[key]["step"]) == 6


def test_lazy_adamw_leaves_unused_rows_alone():
    batches = [torch.tensor([[0, 1, 2]])] * 3
    dense, lazy, _, ours, _ = twin_steps(batches)
    torch.manual_seed(0)  # as twin_steps: the starting weights
    initial = Bag()
    assert torch.equal(lazy.embed.weight[3:], initial.embed.weight[3:])  # rows 3..9: never in a batch
    assert not torch.equal(dense.embed.weight[3:], initial.embed.weight[3:])  # dense AdamW decays them
    torch.testing.assert_close(lazy.embed.weight[:3], dense.embed.weight[:3], rtol=1e-5, atol=1e-6)
    assert not torch.equal(lazy.embed.weight[:3], initial.embed.weight[:3])


def test_lazy_adamw_without_the_fused_kernel_and_resumed_from_a_torch_state():
    batches = [torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]])] * 4
    dense, lazy, reference, ours, _ = twin_steps(batches, fused=False)
    torch.testing.assert_close(lazy.embed.weight, dense.embed.weight, rtol=1e-5, atol=1e-6)
    # a checkpoint written by torch's AdamW (older runs) continues in ours
    moved = AdamW(lazy.parameters(), lr=0.1, weight_decay=0.1)
    moved.load_state_dict(copy.deepcopy(reference.state_dict()))  # a copy: a loaded state shares tensors
    lazy.load_state_dict(dense.state_dict())
    ids = batches[0]
    for model, optimizer in ((dense, reference), (lazy, moved)):
        optimizer.zero_grad()
        model(ids).backward()
        optimizer.step()
    torch.testing.assert_close(lazy.embed.weight, dense.embed.weight, rtol=1e-5, atol=1e-6)


def test_clip_grad_norm_matches_torch_on_dense_gradients():
    torch.manual_seed(1)
    a = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Linear(5, 2))
    b = copy.deepcopy(a)
    x = torch.randn(4, 6)
    for m in (a, b):
        m(x).pow(2).sum().mul(100).backward()
    assert float(clip_grad_norm(a.parameters(), 1.0)) == pytest.approx(
        float(torch.nn.utils.clip_grad_norm_(b.parameters(), 1.0)), rel=1e-6
    )
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa.grad, pb.grad)
    assert float(clip_grad_norm([], 1.0)) == 0.0
    # under the limit: the gradients stay as they are
    before = [p.grad.clone() for p in a.parameters()]
    total = float(clip_grad_norm(a.parameters(), 1e6))
    assert total == pytest.approx(1.0, rel=1e-4)  # already clipped to 1.0 above
    assert all(torch.equal(p.grad, g) for p, g in zip(a.parameters(), before, strict=True))


def test_lazy_embeddings_picks_the_trained_untied_input_table():
    model = Bag()
    assert lazy_embeddings(model) == [model.embed]
    model.embed.weight.requires_grad_(False)
    assert lazy_embeddings(model) == []  # frozen (LoRA, frozen methods)
    tied = Bag(width=1)
    tied.head = torch.nn.Linear(1, 10, bias=False)
    tied.head.weight = tied.embed.weight  # an output layer tied to the embedding: dense gradient anyway
    assert lazy_embeddings(tied) == []
    assert lazy_embeddings(torch.nn.Linear(2, 2)) == []  # no input embedding
    with sparse_gradients([model.embed]):
        assert model.embed.sparse
    assert not model.embed.sparse


def test_build_optimizer_uses_the_fused_kernel_on_cpu():
    optimizer = build_optimizer(Bag(), learning_rate=1e-3, weight_decay=0.01)
    assert isinstance(optimizer, AdamW)
    assert optimizer.defaults["fused"] is True
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.01, 0.0]  # matrices / biases


def dropout_mask(shape, p, dtype):
    """The mask apply_dropout multiplies by: 0 or 1 / (1 - p)."""
    return apply_dropout(torch.ones(shape, dtype=dtype), p)


def test_dropout_mask_distribution_and_reproducibility():
    torch.manual_seed(3)
    mask = dropout_mask(torch.Size([1000, 1000]), 0.1, torch.float32)
    values = set(torch.unique(mask).tolist())
    assert sorted(values) == pytest.approx([0.0, 1 / 0.9])
    assert (mask == 0).float().mean().item() == pytest.approx(0.1, abs=0.002)
    assert mask.mean().item() == pytest.approx(1.0, abs=0.003)  # unbiased
    torch.manual_seed(3)
    assert torch.equal(dropout_mask(torch.Size([1000, 1000]), 0.1, torch.float32), mask)
    assert not torch.equal(dropout_mask(torch.Size([1000, 1000]), 0.1, torch.float32), mask)
    half = dropout_mask(torch.Size([7, 3]), 0.5, torch.bfloat16)  # an odd count: not a multiple of 4
    assert half.dtype == torch.bfloat16 and half.shape == (7, 3)
    # neighbouring values are independent (no stripes from the 4-per-draw packing)
    big = dropout_mask(torch.Size([400_000]), 0.5, torch.float32) > 0
    both = (big[:-1] & big[1:]).float().mean().item()
    assert both == pytest.approx(0.25, abs=0.005)


def tiny_bert(**settings) -> BertModel:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        **settings,
    )
    return BertModel(config)


def test_fast_dropout_switches_and_restores_the_model():
    model = tiny_bert().train()
    ids = torch.randint(0, 50, (3, 7))
    mask = torch.ones(3, 7, dtype=torch.long)
    mask[0, 5:] = 0
    model.eval()
    reference = model(input_ids=ids, attention_mask=mask).last_hidden_state
    model.train()
    with fast_dropout(model) as switched:
        assert switched == 7  # embeddings, 2 per layer, the attention modules' own (2)
        assert all(type(m) is FastDropout for m in model.modules() if isinstance(m, torch.nn.Dropout))
        assert model.config._attn_implementation == ATTENTION
        trained = model(input_ids=ids, attention_mask=mask).last_hidden_state
        model.eval()
        evaluated = model(input_ids=ids, attention_mask=mask).last_hidden_state
        model.train()
    assert model.config._attn_implementation == "sdpa"
    assert all(type(m) is torch.nn.Dropout for m in model.modules() if isinstance(m, torch.nn.Dropout))
    assert torch.equal(evaluated, reference)  # evaluation: no dropout, sdpa as before
    assert not torch.allclose(trained, reference)  # training: dropped
    trained.sum().backward()  # gradients flow through the masks
    assert model.embeddings.word_embeddings.weight.grad is not None
    with fast_dropout(model, enabled=False) as switched:
        assert switched == 0 and model.config._attn_implementation == "sdpa"


@pytest.mark.parametrize("masked", [True, False])
def test_fast_dropout_attention_is_sdpa_when_nothing_is_dropped(masked):
    # a dropout probability so small no value is dropped: the math path must equal sdpa's output
    model = tiny_bert(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    ids = torch.randint(0, 50, (3, 7))
    mask = torch.ones(3, 7, dtype=torch.long)
    if masked:
        mask[0, 4:] = 0
    model.eval()
    reference = model(input_ids=ids, attention_mask=mask).last_hidden_state
    for layer in model.encoder.layer:
        layer.attention.self.dropout.p = 1e-12
    model.train()
    with fast_dropout(model):
        out = model(input_ids=ids, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-5)


def test_fast_dropout_attention_drops_the_share_asked_for():
    model = tiny_bert(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.5).train()
    ids = torch.randint(0, 50, (4, 9))
    seen = []
    from tunelab.training import dropout as module

    original = module.keep_mask

    def spy(shape, p, dtype):
        mask = original(shape, p, dtype)
        seen.append((tuple(shape), p, (mask == 0).float().mean().item()))
        return mask

    module.keep_mask = spy
    try:
        with fast_dropout(model):
            model(input_ids=ids)
    finally:
        module.keep_mask = original
    attention = [s for s in seen if len(s[0]) == 4]
    assert [s[0] for s in attention] == [(4, 4, 9, 9)] * 2  # batch, heads, queries, keys; one per layer
    assert all(s[1] == 0.5 and 0.35 < s[2] < 0.65 for s in attention)


@pytest.mark.train
def test_training_with_and_without_the_speedups(tiny_model_dir, toy_data, tmp_path):
    def run(out, **extra):
        cfg = load_config(None, tiny_overrides(tiny_model_dir, toy_data, **{"training.epochs": 8, **extra}))
        return train(cfg, output_dir=out, console=QUIET)

    fast = run(tmp_path / "fast")
    again = run(tmp_path / "again")
    plain = run(tmp_path / "plain", **{"training.lazy_embeddings": False, "training.fast_dropout": False})
    wf, wa, wp = (load_file(str(tmp_path / d / "model.safetensors")) for d in ("fast", "again", "plain"))
    assert all(torch.equal(wf[k], wa[k]) for k in wf)  # reproducible from the seed
    assert fast.meta["training"]["history"] == again.meta["training"]["history"]
    assert not all(torch.equal(wf[k], wp[k]) for k in wf)  # the switches change the run
    losses = [h["metrics"]["loss"] for h in fast.meta["training"]["history"]]
    assert losses[-1] < 0.7 * losses[0]
    # both learn the toy task (chance is 1/3; 30 dev texts)
    assert fast.report["metrics"]["accuracy"] >= 0.7 and plain.report["metrics"]["accuracy"] >= 0.7
    assert fast.meta["config"]["training"]["lazy_embeddings"] is True
