"""NER alignment through character offsets for decoder tokenizers (byte-level BPE and
SentencePiece-style BPE, built in code by tests/decoder_helpers.py): round trips of gold entities
on Chinese, English and mixed-script text with full-width punctuation, pieces that cover several
characters, windows, raw-string offsets; the WordPiece path is unchanged."""

import numpy as np
import pytest
from transformers import AutoTokenizer, BertTokenizerFast
from transformers.models.bert.tokenization_bert import load_vocab

from decoder_helpers import build_decoder_tokenizer
from helpers import FIXTURES, VOCAB_EN, VOCAB_ZH, perfect_items
from tunelab.tasks.token_classification.align import encode_words, uses_word_lists
from tunelab.tasks.token_classification.config import TokenClassificationConfig
from tunelab.tasks.token_classification.decode import covering_words
from tunelab.tasks.token_classification.example import NerExample, Span
from tunelab.tasks.token_classification.readers import read_ner_file
from tunelab.tasks.token_classification.task import TokenClassificationTask
from tunelab.tasks.token_classification.words import join_tokens, to_words

STYLES = ["byte_level", "metaspace"]


@pytest.fixture(scope="module", params=STYLES)
def decoder_tokenizer(request, tmp_path_factory):
    return AutoTokenizer.from_pretrained(build_decoder_tokenizer(tmp_path_factory.mktemp(request.param), request.param))


@pytest.fixture(scope="module")
def metaspace_tokenizer(tmp_path_factory):
    return AutoTokenizer.from_pretrained(build_decoder_tokenizer(tmp_path_factory.mktemp("ms"), "metaspace"))


def spans_of(text, *entities):
    """Spans for (entity text, type) pairs, each looked up after the previous one."""
    spans, position = [], 0
    for entity, type_ in entities:
        start = text.index(entity, position)
        spans.append(Span(start, start + len(entity), type_))
        position = start + len(entity)
    return tuple(spans)


MIXED = [
    ("高勇：男，中国国籍，无境外居留权。", [("高勇", "NAME"), ("中国", "CONT")]),
    ("张伟在上海工作，毕业于北京大学。", [("张伟", "NAME"), ("上海", "LOC"), ("北京大学", "ORG")]),
    ("2019年，李娜担任中国银行杭州分行行长！", [("李娜", "NAME"), ("中国银行杭州分行", "ORG")]),
    ("「华为公司」总部位于深圳吗？", [("华为公司", "ORG"), ("深圳", "LOC")]),
    (
        "Barack Obama visited New York in 2009 and met Apple Inc.",
        [("Barack Obama", "NAME"), ("New York", "LOC"), ("Apple Inc.", "ORG")],
    ),
    ("张伟 met Angela Merkel in 北京 last year.", [("张伟", "NAME"), ("Angela Merkel", "NAME"), ("北京", "LOC")]),
    ("我喜欢New York的咖啡，也喜欢上海的茶。", [("New York", "LOC"), ("上海", "LOC")]),
    (
        "John Smith用iPhone12给腾讯公司打了电话！Hello world。",
        [("John Smith", "NAME"), ("iPhone", "PRODUCT"), ("腾讯公司", "ORG")],
    ),
    ("“仙剑”“大富翁”是单机游戏，（王小明）说。", [("“仙剑”", "GAME"), ("“大富翁”", "GAME"), ("王小明", "NAME")]),
    ("  前后有空格　和全角空格的 Hello  world  ", [("Hello", "NAME")]),
]


def mixed_examples():
    return [NerExample((), None, text=text, spans=spans_of(text, *entities)) for text, entities in MIXED]


def task_for(examples, **options):
    return TokenClassificationTask.from_examples(TokenClassificationConfig(**options), examples)


def round_trip(task, tokenizer, examples, max_length=128, **options):
    """Encode, decode perfect outputs; (number of gold entities back exactly, total, encoded)."""
    sequences = [to_words(example) for example in examples]
    encoded = encode_words(
        tokenizer,
        sequences,
        task.tag2id,
        max_length=max_length,
        overlap=task.config.window_overlap,
        label_all_subwords=task.config.label_all_subwords,
        **options,
    )
    predicted = task.entities(encoded, perfect_items(task, encoded))
    exact = total = 0
    for example, seq, found in zip(examples, encoded.sequences, predicted):
        gold = example.entities()
        got = [
            (e["type"], e["token_start"], e["token_end"]) if example.text is None else (e["type"], e["start"], e["end"])
            for e in found
        ]
        total += len(gold)
        exact += len(set(gold) & set(got))
        for entity in found:
            assert seq.text[entity["start"] : entity["end"]] == entity["text"]
    return exact, total, encoded


def test_tokenizer_kinds(decoder_tokenizer):
    bert = BertTokenizerFast(vocab=dict(load_vocab(str(VOCAB_EN))))
    assert uses_word_lists(bert)
    assert not uses_word_lists(decoder_tokenizer)


def test_decoder_tokenizers_have_multi_character_chinese_pieces(decoder_tokenizer):
    encoding = decoder_tokenizer("张伟在上海工作，毕业于北京大学。", return_offsets_mapping=True)
    assert any(b - a >= 2 for a, b in encoding["offset_mapping"])  # e.g. "北京" as one piece
    assert decoder_tokenizer.bos_token == "<bos>" and decoder_tokenizer.pad_token == "<pad>"


def test_mixed_script_round_trip(decoder_tokenizer):
    examples = mixed_examples()
    task = task_for(examples)
    exact, total, encoded = round_trip(task, decoder_tokenizer, examples)
    assert (exact, total) == (24, 24)
    assert encoded.num_boundaries_in_pieces == 0 and encoded.num_windowed == 0
    assert encoded.item_last_word_ids  # the offsets alignment was used


def test_mixed_script_round_trip_with_all_subwords_labelled(decoder_tokenizer):
    examples = mixed_examples()
    exact, total, _ = round_trip(task_for(examples, label_all_subwords=True), decoder_tokenizer, examples)
    assert exact == total


def test_bmes_character_corpus_round_trip(decoder_tokenizer):
    bmes = read_ner_file(FIXTURES / "ner" / "resume_bmes.char.bmes")
    sequences = [to_words(example) for example in bmes.examples]
    assert sequences[0].text == "张伟，现任北京大学教授。"  # characters joined without spaces
    assert sequences[1].text == "王，汉族，任C#工程师。"  # a character corpus: narrow characters joined too
    exact, total, encoded = round_trip(task_for(bmes.examples), decoder_tokenizer, bmes.examples)
    assert exact == total == 6
    task = task_for(bmes.examples)
    predicted = task.entities(encoded, perfect_items(task, encoded))
    assert {"text": "北京大学", "token_start": 5, "token_end": 9}.items() <= predicted[0][1].items()
    assert {"text": "C#工程师", "token_start": 6, "token_end": 11}.items() <= predicted[1][2].items()


def test_whole_text_pieces_round_trip_where_boundaries_coincide(metaspace_tokenizer):
    """Without one segment per wide character, Gemma-like pieces cover several characters: an
    entity whose boundaries are piece boundaries still comes back; its inner characters have
    no token of their own and continue the piece's tag."""
    text = "高勇：男，中国国籍，无境外居留权。"
    encoding = metaspace_tokenizer(text, return_offsets_mapping=True)
    pieces = [text[a:b] for a, b in encoding["offset_mapping"] if b > a]
    assert "高勇" in pieces and "中国" in pieces
    examples = [NerExample((), None, text=text, spans=spans_of(text, ("高勇", "NAME"), ("中国", "CONT")))]
    task = task_for(examples)
    exact, total, encoded = round_trip(task, metaspace_tokenizer, examples, split_wide=False)
    assert exact == total == 2 and encoded.num_boundaries_in_pieces == 0
    covers = covering_words(encoded)[0]
    assert covers[1] == 0 and covers[6] == 5  # 勇 continues 高, 国 continues 中
    # a piece takes the tag of the first word it covers
    first_words = encoded.item_word_ids[0]
    labels = encoded.labels[0]
    assert labels[first_words.index(0)] == task.tag2id["B-NAME"]


def test_piece_across_an_entity_start_is_counted_not_fatal(metaspace_tokenizer):
    text = "张伟在上海工作，毕业于北京大学。"
    # "京大" starts inside the piece "北京" and ends inside "大学"; "海工" starts inside "上海"
    spans = spans_of(text, ("张伟", "NAME"), ("海工", "X"), ("京大", "ORG"))
    examples = [NerExample((), None, text=text, spans=spans)]
    task = task_for(examples)
    exact, total, encoded = round_trip(task, metaspace_tokenizer, examples, split_wide=False)
    assert total == 3 and exact == 1  # 张伟 only
    # pieces 张伟 在 上海 工作 ， 毕业 于 北京 大学 。: 海 (B-X in the O piece 上海), 作 (O in the
    # I-X piece 工作), 京 (B-ORG in the O piece 北京), 学 (O in the I-ORG piece 大学)
    assert encoded.num_boundaries_in_pieces == 4
    # the default segmentation loses nothing
    exact, total, encoded = round_trip(task, metaspace_tokenizer, examples)
    assert exact == total == 3 and encoded.num_boundaries_in_pieces == 0


@pytest.mark.parametrize("split_wide", [True, False])
def test_raw_chinese_predictions_slice_the_input(decoder_tokenizer, split_wide):
    texts = [text for text, _ in MIXED] + ["", "   ", "𝄞 ǅ 中文\u200b字符\t\n末尾", "a" * 300]
    task = TokenClassificationTask(TokenClassificationConfig(), ["LOC", "NAME"])
    examples = task.make_examples(texts=texts)
    sequences = [to_words(example) for example in examples]
    encoded = encode_words(decoder_tokenizer, sequences, None, max_length=32, overlap=4, split_wide=split_wide)
    assert encoded.num_windowed >= 2 and encoded.num_truncated == 1  # "a" * 300: one word over the limit
    rng = np.random.default_rng(0)
    outputs = [rng.normal(size=(len(ids), len(task.labels))).astype(np.float32) * 3 for ids in encoded.input_ids]
    items = [task.decode_batch(encoded, [i], {"logits": rows[None]})[0] for i, rows in enumerate(outputs)]
    predicted = task.entities(encoded, items)
    assert sum(map(len, predicted)) > 20
    for text, entities in zip(texts, predicted):
        for entity in entities:
            assert text[entity["start"] : entity["end"]] == entity["text"] and entity["text"].strip()
            assert 0 < entity["score"] <= 1


def test_continued_words_follow_the_covering_piece(metaspace_tokenizer):
    """The piece "中国" over the words 中 and 国: B-LOC on the piece makes the entity 中国, O
    makes nothing."""
    text = "中国国籍"
    task = TokenClassificationTask(TokenClassificationConfig(), ["LOC"])
    encoded = encode_words(
        metaspace_tokenizer,
        [to_words(task.make_examples(texts=[text])[0])],
        None,
        max_length=32,
        overlap=4,
        split_wide=False,
    )
    words = encoded.item_word_ids[0]
    assert words.count(1) == 0  # 国 has no token of its own
    for tag, expected in (("B-LOC", [("中国", "LOC")]), ("I-LOC", [("中国", "LOC")]), ("O", [])):
        rows = np.zeros((len(words), len(task.labels)), dtype=np.float32)
        rows[:, task.tag2id["O"]] = 5.0
        rows[words.index(0)] = 0.0
        rows[words.index(0), task.tag2id[tag]] = 5.0
        found = task.entities(encoded, task.decode_batch(encoded, [0], {"logits": rows[None]}))[0]
        assert [(e["text"], e["type"]) for e in found] == expected


@pytest.mark.parametrize("split_wide", [True, False])
def test_windows_of_a_long_mixed_sentence(decoder_tokenizer, split_wide):
    parts, entities = [], []
    for text, found in MIXED[:9] * 3:
        parts.append(text)
        entities.append(found)
    text = "".join(parts)
    spans = spans_of(text, *(entity for found in entities for entity in found))
    examples = [NerExample((), None, text=text, spans=spans)]
    task = task_for(examples, window_overlap=6)
    exact, total, encoded = round_trip(task, decoder_tokenizer, examples, max_length=24, split_wide=split_wide)
    assert encoded.num_windowed == 1 and len(encoded) > 5
    assert all(len(ids) <= 24 for ids in encoded.input_ids)
    assert exact + encoded.num_boundaries_in_pieces >= total  # each lost entity is a counted boundary
    if split_wide:
        assert exact == total == len(spans) and encoded.num_boundaries_in_pieces == 0
    covered = {w for words in encoded.item_word_ids for w in words if w is not None}
    covered |= {w for w, cover in enumerate(covering_words(encoded)[0]) if cover is not None}
    assert covered == set(range(len(encoded.sequences[0].words)))


def test_windows_of_a_long_character_corpus_sentence(decoder_tokenizer):
    bmes = read_ner_file(FIXTURES / "ner" / "resume_bmes.char.bmes")
    tokens = [t for example in bmes.examples for t in example.tokens] * 4
    tags = [t for example in bmes.examples for t in example.tags] * 4
    example = NerExample(tuple(tokens), tuple(tags))
    task = task_for([example], window_overlap=4)
    exact, total, encoded = round_trip(task, decoder_tokenizer, [example], max_length=16)
    assert encoded.num_windowed == 1 and exact == total == 4 * sum(len(e.entities()) for e in bmes.examples)


def test_join_tokens():
    assert join_tokens(["中", "国", "国", "籍"]) == ("中国国籍", [(0, 1), (1, 2), (2, 3), (3, 4)])
    text, offsets = join_tokens(["我", "用", "iPhone", "12", "，", "Hello", "world", "。", "Ａ", "b"])
    assert text == "我用iPhone 12，Hello world。Ａb"
    assert [text[a:b] for a, b in offsets] == ["我", "用", "iPhone", "12", "，", "Hello", "world", "。", "Ａ", "b"]
    assert join_tokens(["EU", "rejects", "German", "call", "."])[0] == "EU rejects German call ."
    assert join_tokens([]) == ("", [])


def test_pre_tokenised_chinese_reports_token_indices(decoder_tokenizer):
    tokens = ("我", "在", "北", "京", "用", "i", "P", "h", "o", "n", "e", "。")
    tags = (
        "O",
        "O",
        "B-LOC",
        "I-LOC",
        "O",
        "B-PRODUCT",
        "I-PRODUCT",
        "I-PRODUCT",
        "I-PRODUCT",
        "I-PRODUCT",
        "I-PRODUCT",
        "O",
    )
    example = NerExample(tokens, tags)
    task = task_for([example])
    exact, total, encoded = round_trip(task, decoder_tokenizer, [example])
    assert exact == total == 2
    assert encoded.sequences[0].text == "我在北京用iPhone。"  # a character corpus reads as written
    found = task.entities(encoded, perfect_items(task, encoded))[0]
    assert [(e["text"], e["token_start"], e["token_end"]) for e in found] == [("北京", 2, 4), ("iPhone", 5, 11)]


# item_word_ids of the WordPiece path, recorded before the offsets alignment was added
BERT_EN_WORD_IDS = [
    [None, 0, 1, 2, 3, 4, 5, None],
    [None, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, None],
    [None, 7, 8, 9, 10, 11, 12, 13, 13, 14, 15, None],
    [None, 14, 15, 16, 17, 17, 18, 19, None],
]
BERT_ZH_WORD_IDS = [
    [None, 0, 0, 1, 1, 2, 2, 2, None],
    [None, 2, 2, 2, 3, 3, 3, 3, 3, None],
    [None, 4, 4, 4, 5, None],
    [None, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, None],
    [None, 7, 8, 9, 10, 11, 12, 13, 13, 14, 15, None],
    [None, 14, 15, 16, 17, 18, 19, None],
]


@pytest.mark.parametrize("vocab, expected", [(VOCAB_EN, BERT_EN_WORD_IDS), (VOCAB_ZH, BERT_ZH_WORD_IDS)])
def test_wordpiece_alignment_is_unchanged(vocab, expected):
    tokenizer = BertTokenizerFast(vocab=dict(load_vocab(str(vocab))), do_lower_case=True)
    text = "我在北京用iPhone12买了3台华为Mate60，花了12000元。"
    examples = [
        NerExample(
            ("Barack", "Obama", "visited", "Strasbourg", "yesterday", "."), ("B-PER", "I-PER", "O", "B-LOC", "O", "O")
        ),
        NerExample((), None, text=text, spans=spans_of(text, ("北京", "LOC"), ("iPhone", "PRODUCT"))),
    ]
    tag2id = {"O": 0, "B-PER": 1, "I-PER": 2, "B-LOC": 3, "I-LOC": 4, "B-PRODUCT": 5, "I-PRODUCT": 6}
    encoded = encode_words(tokenizer, [to_words(e) for e in examples], tag2id, max_length=12, overlap=3)
    assert encoded.item_word_ids == expected
    assert encoded.item_last_word_ids == [] and encoded.num_boundaries_in_pieces == 0
    assert covering_words(encoded) == [[None] * len(seq.words) for seq in encoded.sequences]
