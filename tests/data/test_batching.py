import numpy as np
import torch

from tunelab.data.batching import LengthBucketBatchSampler, PaddingCollator


def padding_share(batches, lengths):
    lengths = np.asarray(lengths)
    padded = sum(len(b) * lengths[b].max() for b in batches)
    return 1 - lengths.sum() / padded


def test_every_index_once_and_deterministic_per_epoch():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 60, size=1000)
    sampler = LengthBucketBatchSampler(lengths, 32, seed=7)
    first = list(sampler)
    assert sorted(i for b in first for i in b) == list(range(1000))
    assert len(first) == len(sampler) == 32
    assert list(LengthBucketBatchSampler(lengths, 32, seed=7)) == first
    sampler.set_epoch(1)
    assert list(sampler) != first


def test_buckets_cut_padding():
    rng = np.random.default_rng(0)
    lengths = rng.lognormal(3.0, 0.6, size=4000).astype(int) + 2
    bucketed = list(LengthBucketBatchSampler(lengths, 32, seed=1))
    plain = list(LengthBucketBatchSampler(lengths, 32, seed=1, bucket=False))
    assert padding_share(plain, lengths) > 0.25
    assert padding_share(bucketed, lengths) < 0.08


def test_eval_order_is_sorted_and_complete():
    lengths = [5, 9, 1, 7]
    batches = list(LengthBucketBatchSampler(lengths, 3, shuffle=False))
    assert batches == [[1, 3, 0], [2]]


def test_drop_last():
    sampler = LengthBucketBatchSampler([3] * 10, 4, drop_last=True)
    assert len(sampler) == 2 and all(len(b) == 4 for b in sampler)


def test_collator_pads_right_and_keeps_index():
    collate = PaddingCollator(pad_token_id=0)
    batch = collate(
        [
            {"input_ids": [101, 5, 102], "token_type_ids": [0, 0, 0], "labels": 2, "index": 4},
            {"input_ids": [101, 102], "token_type_ids": [0, 0], "labels": 0, "index": 1},
        ]
    )
    assert batch["input_ids"].tolist() == [[101, 5, 102], [101, 102, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].dtype == torch.long and batch["labels"].tolist() == [2, 0]
    assert batch["index"].tolist() == [4, 1]


def test_collator_multi_label_targets_are_float():
    batch = PaddingCollator(0, targets=lambda values, width: torch.tensor(values, dtype=torch.float32))(
        [{"input_ids": [1], "labels": [1, 0, 1], "index": 0}]
    )
    assert batch["labels"].dtype == torch.float32 and batch["labels"].tolist() == [[1.0, 0.0, 1.0]]
    assert "token_type_ids" not in batch
