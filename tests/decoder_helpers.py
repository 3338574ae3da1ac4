"""Small real decoder-style tokenizers, trained in code (no network), for NER alignment tests and
tiny random decoder models.

- ``byte_level``: byte-level BPE like GPT-2 / RoBERTa / Qwen2 (``ByteLevel`` pre-tokenizer with
  the GPT-2 regex, no prefix space, offsets not trimmed): a CJK character is three bytes, so it
  can be split into several tokens that share its character offsets, and the regex keeps runs of
  letters (Chinese included) together, so pieces can span several Chinese characters.
- ``metaspace``: SentencePiece-style BPE like Gemma (spaces become "▁" and start the following
  piece, no dummy prefix, byte fallback ``<0xXX>`` for unseen characters, ``<bos>`` added):
  "▁Hello" covers the space before the word, and pieces such as "中国" cover several characters.

Both are trained on a small mixed English + Chinese corpus made from the templates below, so
that frequent Chinese words become multi-character pieces, and saved as a ``PreTrainedTokenizerFast`` with
``<bos>``, ``<eos>``, ``<pad>`` and ``<unk>``.
"""

from __future__ import annotations

import json
from pathlib import Path

SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>"]

# Sentences from templates x fillers: frequent words (names, places, organisations, template
# words) become pieces, whole sentences do not. Full-width punctuation (，。：；（）「」！？),
# mixed scripts and digits are all there.
PEOPLE = ["张伟", "李娜", "王小明", "高勇", "刘洋", "陈静"]
PLACES = ["北京", "上海", "中国", "杭州", "深圳", "武汉"]
ORGS = ["华为公司", "中国银行", "北京大学", "阿里巴巴集团", "腾讯公司", "人民政府"]
EN_PEOPLE = ["Barack Obama", "Angela Merkel", "John Smith", "Mary Jones"]
EN_PLACES = ["New York", "London", "Beijing", "Shanghai", "Paris"]
EN_ORGS = ["Apple Inc.", "Microsoft", "Google", "the University of Cambridge"]
TEMPLATES = [
    "{per}：男，{loc}国籍，无境外居留权。",
    "{per}在{loc}工作，毕业于{org}。",
    "{per}（女）现任{org}经理；出生于{loc}。",
    "2019年，{per}担任{org}{loc}分行行长！",
    "「{org}」总部位于{loc}吗？",
    "{en_per} visited {en_loc} in 2009 and met {en_org}.",
    "{en_org} opened a new store in {en_loc}, said {en_per}.",
    "{per} met {en_per} in {loc} last year.",
    "我喜欢{en_loc}的咖啡，也喜欢{loc}的茶。",
    "{en_per}用iPhone12给{org}打了电话！Hello world。",
]


def corpus(n: int = 600, seed: int = 0) -> list[str]:
    """``n`` sentences drawn from the templates (deterministic for a seed)."""
    import random

    rng = random.Random(seed)
    pick = {"per": PEOPLE, "loc": PLACES, "org": ORGS, "en_per": EN_PEOPLE, "en_loc": EN_PLACES, "en_org": EN_ORGS}
    return [rng.choice(TEMPLATES).format(**{k: rng.choice(v) for k, v in pick.items()}) for _ in range(n)]


def build_decoder_tokenizer(directory: str | Path, style: str = "byte_level") -> Path:
    """Train a small ``style`` tokenizer ("byte_level" or "metaspace") and save it to ``directory``
    with ``save_pretrained``; returns the directory."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    sentences = corpus()
    if style == "byte_level":
        tokenizer = Tokenizer(models.BPE(unk_token=None))
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tokenizer.decoder = decoders.ByteLevel()
        tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
        trainer = trainers.BpeTrainer(
            vocab_size=800,
            min_frequency=2,
            max_token_length=9,
            special_tokens=SPECIALS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tokenizer.train_from_iterator(sentences, trainer=trainer)
    elif style == "metaspace":
        tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
        metaspace = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=True)
        # Trained like SentencePiece, pieces within one script (Han pairs, words with their "▁",
        # single digits and punctuation), but run like Gemma, split at spaces only: the learned
        # merges alone decide the pieces, "中国" and "境外" as in Gemma.
        scripts = pre_tokenizers.Split(Regex(r"\p{Han}{1,2}|▁?[A-Za-z]+|▁+|."), behavior="isolated")
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([metaspace, scripts])
        trainer = trainers.BpeTrainer(
            vocab_size=600, min_frequency=2, max_token_length=8, special_tokens=SPECIALS, show_progress=False
        )
        tokenizer.train_from_iterator(sentences, trainer=trainer)
        tokenizer.pre_tokenizer = metaspace
        tokenizer = _with_byte_fallback(tokenizer)
        tokenizer.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
        bos = tokenizer.token_to_id("<bos>")
        tokenizer.post_processor = processors.TemplateProcessing(
            single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", bos)]
        )
    else:
        raise ValueError(f"unknown tokenizer style {style!r}; use 'byte_level' or 'metaspace'")
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_max_length=512,
    )
    fast.save_pretrained(directory)
    return directory


def _with_byte_fallback(tokenizer):
    """The trained BPE with the 256 ``<0xXX>`` byte pieces added and byte fallback on (as in Gemma)."""
    from tokenizers import Tokenizer

    spec = json.loads(tokenizer.to_str())
    vocab = spec["model"]["vocab"]
    for byte in range(256):
        vocab.setdefault(f"<0x{byte:02X}>", len(vocab))
    spec["model"]["byte_fallback"] = True
    return Tokenizer.from_str(json.dumps(spec))
