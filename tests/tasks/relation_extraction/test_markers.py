"""Entity markers: inserted around the spans, added as single special tokens, read at their
positions; a long text is cut around the entities and the markers always survive."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from tunelab.errors import ConfigError, DataError
from tunelab.tasks.relation_extraction.example import Entity, RelationExample
from tunelab.tasks.relation_extraction.markers import (
    add_markers,
    encode_relations,
    insert_markers,
    keep_around,
    marker_tokens,
)

E1, E2 = ("<e1>", "</e1>"), ("<e2>", "</e2>")


@pytest.fixture
def tokenizer(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    add_markers(tok, marker_tokens(["PER", "LOC"]))
    return tok


def encode(tokenizer, examples, max_length=64, typed=False, representation="entity_start"):
    return encode_relations(
        tokenizer, examples, max_length=max_length, typed=typed, representation=representation, label2id=None
    )


def test_insert_markers_apart_nested_and_identical():
    assert insert_markers("john met mary", Entity(0, 4), Entity(9, 13), E1, E2) == "<e1>john</e1> met <e2>mary</e2>"
    # tail before head: e1 still marks the head
    assert insert_markers("john met mary", Entity(9, 13), Entity(0, 4), E1, E2) == "<e2>john</e2> met <e1>mary</e1>"
    # adjacent: the first closes before the second opens
    assert insert_markers("ab", Entity(0, 1), Entity(1, 2), E1, E2) == "<e1>a</e1><e2>b</e2>"
    # nested: the outer span opens first and closes last
    assert insert_markers("母亲<N>岁时", Entity(0, 2), Entity(0, 7), E1, E2) == "<e2><e1>母亲</e1><N>岁时</e2>"
    assert insert_markers("公司", Entity(0, 2), Entity(0, 2), E1, E2) == "<e1><e2>公司</e2></e1>"


def test_markers_are_single_tokens_and_added_once(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    size = len(tok)
    tokens = marker_tokens(["PER"])
    assert tokens == ["<e1>", "</e1>", "<e2>", "</e2>", "<e1:PER>", "</e1:PER>", "<e2:PER>", "</e2:PER>"]
    assert add_markers(tok, tokens) == 8 and len(tok) == size + 8
    assert add_markers(tok, tokens) == 0 and len(tok) == size + 8
    ids = [tok.convert_tokens_to_ids(t) for t in tokens]
    assert ids == list(range(size, size + 8))
    # never lower-cased or split by the uncased WordPiece tokenizer
    assert tok.tokenize("John <e1:PER>Smith</e1:PER>") == ["john", "<e1:PER>", "smith", "</e1:PER>"]


def test_positions_point_at_the_start_markers(tokenizer):
    ex = RelationExample("john met mary in paris", Entity(9, 13), Entity(17, 22))
    enc = encode(tokenizer, [ex])
    tokens = tokenizer.convert_ids_to_tokens(enc.input_ids[0])
    assert tokens == ["[CLS]", "john", "met", "<e1>", "mary", "</e1>", "in", "<e2>", "paris", "</e2>", "[SEP]"]
    assert [tokens[p] for p in enc.entity_positions[0]] == ["<e1>", "<e2>"]
    assert enc[0]["entity_positions"] == enc.entity_positions[0] and enc.num_truncated == 0


def test_direction_swaps_the_markers(tokenizer):
    forward = RelationExample("john met mary", Entity(0, 4), Entity(9, 13))
    backward = RelationExample("john met mary", Entity(9, 13), Entity(0, 4))
    enc = encode(tokenizer, [forward, backward])
    a, b = (tokenizer.convert_ids_to_tokens(ids) for ids in enc.input_ids)
    assert a[enc.entity_positions[0][0] + 1] == "john" and b[enc.entity_positions[1][0] + 1] == "mary"
    assert enc.entity_positions[0] == [1, 5] and enc.entity_positions[1] == [5, 1]


def test_typed_markers(tokenizer):
    ex = RelationExample("john lives in paris", Entity(0, 4, "PER"), Entity(14, 19, "LOC"))
    enc = encode(tokenizer, [ex], typed=True)
    tokens = tokenizer.convert_ids_to_tokens(enc.input_ids[0])
    assert tokens[1:4] == ["<e1:PER>", "john", "</e1:PER>"] and tokens[6:9] == ["<e2:LOC>", "paris", "</e2:LOC>"]
    assert [tokens[p] for p in enc.entity_positions[0]] == ["<e1:PER>", "<e2:LOC>"]


def test_long_text_is_cut_around_the_entities(tokenizer):
    words = [f"w{i}" for i in range(300)]
    words[40], words[250] = "john", "paris"
    text = " ".join(words)
    head = Entity(text.index("john"), text.index("john") + 4)
    tail = Entity(text.index("paris"), text.index("paris") + 5)
    enc = encode(tokenizer, [RelationExample(text, head, tail)], max_length=32)
    ids = enc.input_ids[0]
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert len(ids) == 32 and enc.num_truncated == 1
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    for marker in ("<e1>", "</e1>", "<e2>", "</e2>"):
        assert tokens.count(marker) == 1
    h, t = enc.entity_positions[0]
    assert tokens[h : h + 3] == ["<e1>", "john", "</e1>"] and tokens[t : t + 3] == ["<e2>", "paris", "</e2>"]
    # the context kept is the nearest to the entities, on both sides of each
    assert tokens[h - 1] != "[CLS]" and tokens[t + 3] != "[SEP]"


def test_keep_around_priorities():
    # markers at 10, 12, 30, 32; budget 8: the markers, both entity tokens, then the nearest context
    kept = keep_around(50, (10, 12, 30, 32), 8, ((10, 12), (30, 32)))
    assert len(kept) == 8 and {10, 11, 12, 30, 31, 32} <= set(kept) and kept == sorted(kept)
    assert keep_around(5, (0, 1, 2, 3), 10, ((0, 1), (2, 3))) == [0, 1, 2, 3, 4]
    with pytest.raises(ConfigError, match="fewer than the 4 entity markers"):
        keep_around(50, (10, 12, 30, 32), 3, ((10, 12), (30, 32)))


def test_cls_representation_reads_the_first_token(tokenizer):
    ex = RelationExample("john met mary", Entity(0, 4), Entity(9, 13))
    enc = encode(tokenizer, [ex], representation="cls")
    assert enc.entity_positions[0] == [0]


def test_marker_strings_in_the_text_are_refused(tokenizer):
    ex = RelationExample("john <e1> met mary", Entity(0, 4), Entity(14, 18), source="f.jsonl", line=3)
    with pytest.raises(DataError, match="contains an entity marker") as err:
        encode(tokenizer, [ex])
    assert err.value.line == 3 and err.value.field == "text"


def test_chinese_text_on_a_chinese_vocabulary(tmp_path):
    from helpers import VOCAB_ZH, build_tiny_bert

    tok = AutoTokenizer.from_pretrained(build_tiny_bert(tmp_path / "zh", VOCAB_ZH))
    add_markers(tok, marker_tokens(None))
    # FinRE: head after tail in the sentence; SanWen: a head inside its tail (nested markers)
    finre = RelationExample("东方航空AH股临时停牌传将与上航合并", Entity(14, 16), Entity(0, 4))
    sanwen = RelationExample("母亲<N>岁时姥姥去世了", Entity(0, 2), Entity(0, 7))
    enc = encode(tok, [finre, sanwen])
    first, second = (tok.convert_ids_to_tokens(ids) for ids in enc.input_ids)
    h, t = enc.entity_positions[0]
    assert first[h : h + 4] == ["<e1>", "上", "航", "</e1>"] and first[t : t + 6] == [
        "<e2>",
        "东",
        "方",
        "航",
        "空",
        "</e2>",
    ]
    h, t = enc.entity_positions[1]
    assert second[t] == "<e2>" and second[h] == "<e1>" and t < h and second[h + 3] == "</e1>"
