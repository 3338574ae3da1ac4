"""The text ops of `augment:` and `--perturb` on English and Chinese strings: seeded, changing
about the share p of the words, never emptying a text; the config section and its errors."""

from __future__ import annotations

import pytest

from tunelab.augment import AUGMENT_OPS, TEXT_OPS, Augmenter
from tunelab.augment.apply import augment_texts, augment_training, describe_counts, perturb_texts
from tunelab.augment.text import detect_language, split_text
from tunelab.config import load_config
from tunelab.data.example import Example
from tunelab.errors import ConfigError

# 60 content words, most with WordNet synonyms, no punctuation: a changed word is a changed token.
TEXT = (
    "customer payment arrived late yesterday because bank transfer failed twice after card "
    "verification service refused account password reset request while support team answered "
    "quickly explaining refund policy limits delivery courier package damaged box contents broken "
    "screen phone charger cable missing order invoice shows wrong amount charged total price "
    "discount coupon expired before purchase completed online store website"
)
WORDS = TEXT.split()
ZH_TEXT = "我想查询一下我的银行卡余额，为什么转账还没有到账？客服说明天处理，我非常着急。"


def run(op: str, text: str, seed: int = 0, p: float = 0.1, language: str = "en") -> str:
    augmenter = Augmenter([op], p=p, language=language, seed=seed)
    return augmenter.apply_text(op, text, augmenter.rng(0, op, 0))


@pytest.mark.parametrize("op", TEXT_OPS)
def test_every_text_op_is_deterministic_from_the_seed(op):
    first = run(op, TEXT, seed=7)
    assert first == run(op, TEXT, seed=7)
    assert first != TEXT
    assert len({run(op, TEXT, seed=s) for s in range(6)}) > 1  # other seeds, other copies


@pytest.mark.parametrize("op", ["typos", "case", "synonym"])
def test_in_place_ops_change_a_share_p_of_the_words(op):
    for p in (0.1, 0.3):
        out = run(op, TEXT, seed=3, p=p).split(" ")
        if op != "synonym":
            assert len(out) == len(WORDS)
            changed = sum(a != b for a, b in zip(out, WORDS))
            assert changed == round(p * len(WORDS))
        else:  # a synonym may have several words ("give back"): count the words no longer there
            missing = sum(1 for w in WORDS if w not in out)
            assert 0.6 * p * len(WORDS) <= missing <= p * len(WORDS)


def test_delete_swap_insert_change_about_p_of_the_words():
    n = round(0.2 * len(WORDS))
    deleted = run("delete", TEXT, seed=1, p=0.2).split()
    assert len(deleted) == len(WORDS) - n and all(w in WORDS for w in deleted)
    swapped = run("swap", TEXT, seed=1, p=0.2).split()
    assert sorted(swapped) == sorted(WORDS)
    assert 2 <= sum(a != b for a, b in zip(swapped, WORDS)) <= 2 * n
    inserted = run("insert", TEXT, seed=1, p=0.2).split()
    assert len(WORDS) + n <= len(inserted) <= len(WORDS) + 3 * n  # a synonym may have several words


def test_whitespace_and_untouched_words_stay_as_they_were():
    text = "  Hello,  I lost my card!\tPlease help.  "
    out = run("typos", text, seed=2)
    assert out.startswith("  ") and out.endswith(".  ") and "\t" in out and ",  " in out
    assert sum(a != b for a, b in zip(out.split(), text.split())) == 1


@pytest.mark.parametrize("op", ["eda", "delete", "swap", "synonym", "insert", "punctuation", "typos", "case"])
def test_short_texts_never_become_empty(op):
    for text in ("hi", "ok thanks", "refund?", "why", "a b", "I"):
        for seed in range(20):
            out = run(op, text, seed=seed, p=0.5)
            assert out.strip(), (op, text, seed)


def test_keyboard_typos_stay_near_the_key():
    out = run("typos", "abcdefghijklmnopqrstuvwxyz " * 3, seed=0, p=1.0)
    assert len(out.split()) == 3


def test_english_synonyms_come_from_wordnet():
    from tunelab.augment.wordnet import english_synonyms

    assert "glad" in english_synonyms("happy")
    assert "Glad" in english_synonyms("Happy")
    assert english_synonyms("the") == [] and english_synonyms("42") == []


def test_chinese_ops_on_chinese_text():
    from tunelab.augment.chinese import chinese_synonyms, homophones, segment

    assert "银行卡" in segment(ZH_TEXT) and "".join(segment(ZH_TEXT)) == ZH_TEXT
    assert chinese_synonyms("着急") and homophones("的")
    for op in ("synonym", "eda", "swap", "delete", "insert", "typos", "punctuation"):
        outs = {run(op, ZH_TEXT, seed=s, p=0.2, language="zh") for s in range(4)}
        assert ZH_TEXT not in outs or len(outs) > 1, op
        for out in outs:
            assert out and " " not in out  # Chinese is joined without spaces
            assert sum("\u4e00" <= ch <= "\u9fff" for ch in out) >= 10
    typo = run("typos", ZH_TEXT, seed=5, p=0.3, language="zh")
    assert len(typo) >= len(ZH_TEXT) - 3  # homophones, doubled, swapped or dropped characters
    punct = run("punctuation", ZH_TEXT, seed=5, p=0.3, language="zh")
    marks = "，。！？、；："
    assert [ch for ch in punct if ch in marks] != [ch for ch in ZH_TEXT if ch in marks]
    assert [ch for ch in punct if ch not in marks] == [ch for ch in ZH_TEXT if ch not in marks]


def test_language_detection():
    assert detect_language([ZH_TEXT, "我的卡"]) == "zh"
    assert detect_language([TEXT, "iPhone 坏了 please help me with it"]) == "en"
    words = split_text("我想查询iPhone 12的余额", "zh")
    assert words.text() == "我想查询iPhone 12的余额" and "iPhone" in words.tokens


def test_augment_texts_keeps_labels_and_drops_unchanged_copies():
    examples = [Example("my card was charged twice", label="billing", line=2), Example("?", label="other", line=3)]
    augmenter = Augmenter(["typos", "case"], copies=3, seed=1)
    added = augment_texts(examples, augmenter)
    assert {a.op for a in added} == {"typos", "case"}
    assert all(a.example.label == "billing" and a.example.line == 2 for a in added)  # "?" has no word to change
    assert len({a.example.text for a in added}) == len(added) <= 6
    assert augment_texts(examples, augmenter) == added


def test_pairs_are_augmented_and_perturbed_on_both_sides():
    examples = [Example("the parcel never arrived", text_pair="my package is missing", label="yes")]
    augmenter = Augmenter(["case"], p=0.5, seed=4)
    (added,) = augment_texts(examples, augmenter)
    assert added.example.text != examples[0].text and added.example.text_pair != examples[0].text_pair
    (perturbed,) = perturb_texts(examples, augmenter)
    assert perturbed.label == "yes" and perturbed.text.lower() == examples[0].text


def test_span_ops_need_entity_tags():
    with pytest.raises(ConfigError, match="mention_replace.*token classification"):
        augment_texts([Example("hello")], Augmenter(["mention_replace"]))


def test_augment_training_adds_copies_after_the_originals(capsys):
    train = [Example(f"please refund my payment number {i} today", label="billing") for i in range(10)]
    config = load_config(overrides=["augment.ops=typos,swap", "augment.copies=2"]).augment
    lines: list[str] = []
    inputs, counts = augment_training(_TextTask(), {"train": train, "dev": []}, config, seed=3, log=lines.append)
    assert inputs["train"][:10] == train and len(inputs["train"]) == 10 + sum(counts.values())
    assert counts["typos"] == 20 and 15 <= counts["swap"] <= 20  # a copy equal to an earlier one is left out
    assert lines == [f"augment: +{20 + counts['swap']} examples (typos 20, swap {counts['swap']}), language en"]
    again, _ = augment_training(_TextTask(), {"train": train}, config, seed=3)
    other, _ = augment_training(_TextTask(), {"train": train}, config, seed=4)
    assert again["train"] == inputs["train"] and other["train"] != inputs["train"]
    assert describe_counts({"eda": 770, "typos": 770}) == "augment: +1,540 examples (eda 770, typos 770)"


class _TextTask:
    def augment(self, examples, augmenter):
        return augment_texts(examples, augmenter)


def test_config_section():
    config = load_config(overrides=["augment.ops=EDA, typos,eda", "augment.p=0.2"])
    assert config.augment.ops == ["eda", "typos"] and config.augment.p == 0.2 and config.augment.copies == 1
    assert load_config().augment.ops == [] and load_config().augment.language == "auto"
    assert set(AUGMENT_OPS) == set(__import__("tunelab.config_augment").config_augment.AUGMENT_OP_NAMES)
    with pytest.raises(ConfigError, match=r"augment\.ops.*unknown op typo;"):
        load_config(overrides=["augment.ops=eda,typo"])
    with pytest.raises(ConfigError, match=r"augment\.p"):
        load_config(overrides=["augment.p=0"])
    with pytest.raises(ConfigError, match=r"unknown key 'augment\.seed'"):
        load_config(overrides=["augment.seed=3"])
    with pytest.raises(ConfigError, match=r"augment\.language"):
        load_config(overrides=["augment.language=fr"])


def test_resume_an_old_run_without_the_section_but_not_a_changed_augmentation():
    from tunelab.workflow.resume import compare

    old = {"config": {"training": {"epochs": 3}}}  # run.json of a release before `augment:`
    new = {"config": {"training": {"epochs": 3}, "augment": load_config().to_dict()["augment"]}}
    assert compare(old, new) == ([], [])
    new["config"]["augment"]["ops"] = ["eda"]
    assert compare(old, new) == ([], ["augment.ops: '(unset)' -> ['eda']"])
    old["config"]["augment"] = {**new["config"]["augment"], "p": 0.1}
    new["config"]["augment"]["p"] = 0.2
    assert compare(old, new) == ([], ["augment.p: 0.1 -> 0.2"])
