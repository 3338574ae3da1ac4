"""Named-entity recognition metrics as a plain, JSON-ready dict.

Inputs are IOB2 tag sequences, one list of tags per sentence (``"O"``, ``"B-TYPE"``, ``"I-TYPE"``).
Entity-level precision, recall and F1 come from `seqeval`_; every number in the result is a
built-in ``float``/``int`` (never a numpy scalar), undefined ratios (0/0) count as 0 and no
warning is emitted. seqeval (and through it scikit-learn) is imported on first use to keep
``import tunelab`` fast.

Why strict mode by default
--------------------------
seqeval's default mode reproduces the ``conlleval`` Perl script: an ``I-X`` tag that follows ``O``
(or a tag of another type) silently *starts* an entity. A model that never learned to emit ``B-``
tags, or that emits invalid sequences such as ``O I-PER I-PER``, is then scored as if its output
were well formed, which inflates precision/recall for exactly the predictions that a downstream
span decoder would reject or mangle. ``mode="strict"`` (seqeval ``mode="strict", scheme=IOB2``)
only counts entities that start with ``B-X`` and continue with ``I-X`` of the same type; orphan
``I-`` tags belong to no entity. ``mode="conlleval"`` computes the lenient numbers for comparison
with published conlleval scores; the result has the same keys in both modes.

.. _seqeval: https://github.com/chakki-works/seqeval
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

Direction = Literal["max", "min"]

__all__ = ["METRIC_DIRECTIONS_NER", "ner_metrics"]

#: NER metrics that can select the best checkpoint, and whether higher or lower is better.
METRIC_DIRECTIONS_NER: dict[str, Direction] = {
    "f1": "max",
    "precision": "max",
    "recall": "max",
    "macro_f1": "max",
    "token_accuracy": "max",
    "loss": "min",
}

NerMode = Literal["strict", "conlleval"]
ErrorKind = Literal["false_positive", "false_negative", "wrong_type", "wrong_boundary"]

_MODES = ("strict", "conlleval")
# "O", or "B-"/"I-" followed by a type that does not start or end with "-" or whitespace (seqeval's
# two modes would otherwise read such types differently).
_TAG = re.compile(r"O|[BI]-(?![\s-])(.*)(?<![\s-])", re.DOTALL)

# (start, end_exclusive, type) of one entity in one sentence.
Span = tuple[int, int, str]


def ner_metrics(
    y_true: Sequence[Sequence[str]],
    y_pred: Sequence[Sequence[str]],
    *,
    texts: Sequence[Sequence[str]] | None = None,
    max_errors: int = 20,
    mode: NerMode = "strict",
) -> dict[str, Any]:
    """Compute entity-level NER metrics and the most frequent errors.

    ``y_true``/``y_pred`` hold one IOB2 tag list per sentence, of equal lengths sentence by
    sentence. ``texts`` (optional) holds the tokens of each sentence, used for the surface text of
    the error spans. ``mode`` is ``"strict"`` (default; well-formed IOB2 entities only) or
    ``"conlleval"`` (lenient, as the conlleval script; see the module docstring).

    Returns a JSON-ready dict:

    - ``precision``, ``recall``, ``f1``: micro averages over all entities;
    - ``macro_precision``, ``macro_recall``, ``macro_f1``: unweighted mean over entity types;
    - ``weighted_precision``, ``weighted_recall``, ``weighted_f1``: mean weighted by gold support;
    - ``per_type``: ``{type: {"precision", "recall", "f1", "support"}}`` for every type seen in
      the gold or predicted entities, sorted by name;
    - ``token_accuracy``: share of tokens whose predicted tag equals the gold tag exactly;
    - ``num_sentences``, ``num_tokens``, ``num_entities`` (gold), ``num_predicted``;
    - ``mode``: ``"strict"`` or ``"conlleval"``;
    - ``errors``: up to ``max_errors`` records ``{"kind", "text", "gold", "predicted", "count"}``
      sorted by count (descending), then text. ``text`` is None without ``texts``;
    - ``errors_by_type``: every error counted per entity type and kind
      ``{type: {"false_negative", "false_positive", "wrong_type", "wrong_boundary"}}`` (missed, wrong
      type and wrong boundary under the gold type, false positives under the predicted type).

    Errors are found per sentence: an exact match (start, end, type) is correct; a predicted span
    with the same start and end but another type is ``wrong_type``; a predicted span overlapping
    a gold span of the same type with other boundaries is ``wrong_boundary`` (paired one-to-one
    with the leftmost such gold span; its ``text`` is the gold span's text); the remaining
    predicted spans are ``false_positive`` (text of the predicted span) and the remaining gold
    spans ``false_negative``.

    Raises ValueError on malformed input, naming the offending sentence (and token) index.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, _MODES))}, got {mode!r}")
    if isinstance(max_errors, bool) or not isinstance(max_errors, int) or max_errors < 0:
        raise ValueError(f"max_errors must be an int >= 0, got {max_errors!r}")
    gold = _check_sequences(y_true, "y_true")
    pred = _check_sequences(y_pred, "y_pred")
    if len(gold) != len(pred):
        raise ValueError(f"y_true and y_pred have different numbers of sentences: {len(gold)} != {len(pred)}")
    if not gold:
        raise ValueError("no sentences to evaluate: y_true and y_pred are empty")
    for i, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: y_true has {len(g)} tags but y_pred has {len(p)}")
    tokens = None
    if texts is not None:
        tokens = _check_sequences(texts, "texts", tags=False)
        if len(tokens) != len(gold):
            raise ValueError(f"texts has {len(tokens)} sentences but y_true has {len(gold)}")
        for i, (t, g) in enumerate(zip(tokens, gold)):
            if len(t) != len(g):
                raise ValueError(f"sentence {i}: texts has {len(t)} tokens but y_true has {len(g)} tags")
    num_tokens = sum(len(g) for g in gold)
    if num_tokens == 0:
        raise ValueError("no tokens to evaluate: every sentence is empty")

    scores = _seqeval_scores(gold, pred, mode)
    gold_spans = _spans(gold, mode)
    pred_spans = _spans(pred, mode)
    correct_tags = sum(gt == pt for g, p in zip(gold, pred) for gt, pt in zip(g, p))

    return {
        "mode": mode,
        "precision": scores["micro"][0],
        "recall": scores["micro"][1],
        "f1": scores["micro"][2],
        "macro_precision": scores["macro"][0],
        "macro_recall": scores["macro"][1],
        "macro_f1": scores["macro"][2],
        "weighted_precision": scores["weighted"][0],
        "weighted_recall": scores["weighted"][1],
        "weighted_f1": scores["weighted"][2],
        "per_type": scores["per_type"],
        "token_accuracy": correct_tags / num_tokens,
        "num_sentences": len(gold),
        "num_tokens": num_tokens,
        "num_entities": sum(len(s) for s in gold_spans),
        "num_predicted": sum(len(s) for s in pred_spans),
        "errors": _errors(gold_spans, pred_spans, tokens, max_errors),
        "errors_by_type": _errors_by_type(gold_spans, pred_spans),
    }


def _check_sequences(values: Any, what: str, *, tags: bool = True) -> list[list[str]]:
    """Lists of str per sentence; ValueError naming the sentence (and token) otherwise."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(f"{what} must be a list of sentences (lists of strings), got {type(values).__name__}")
    out: list[list[str]] = []
    for i, sentence in enumerate(values):
        if isinstance(sentence, (str, bytes)) or not isinstance(sentence, Sequence):
            raise ValueError(
                f"sentence {i}: {what} must hold a list of strings per sentence, got {type(sentence).__name__}"
            )
        items = list(sentence)
        for j, item in enumerate(items):
            if not isinstance(item, str):
                raise ValueError(f"sentence {i}, token {j}: {what} must contain strings, got {type(item).__name__}")
            if tags and not _TAG.fullmatch(item):
                raise ValueError(
                    f"sentence {i}, token {j}: {what} has invalid IOB2 tag {item!r} "
                    "(expected 'O', 'B-TYPE' or 'I-TYPE')"
                )
        out.append(items)
    return out


def _seqeval_scores(gold: list[list[str]], pred: list[list[str]], mode: str) -> dict[str, Any]:
    # Imported here: seqeval imports scikit-learn (~1 s), which `tunelab --help` should not pay.
    if mode == "strict":
        from seqeval.metrics.v1 import precision_recall_fscore_support
        from seqeval.scheme import IOB2, Entities

        # Parse once; seqeval's strict scorer accepts pre-built entities.
        common: dict[str, Any] = {
            "scheme": IOB2,
            "entities_true": Entities(gold, IOB2),
            "entities_pred": Entities(pred, IOB2),
        }
        types = sorted(common["entities_true"].unique_tags | common["entities_pred"].unique_tags)
    else:
        from seqeval.metrics.sequence_labeling import get_entities, precision_recall_fscore_support

        common = {}
        types = sorted({t for seqs in (gold, pred) for s in seqs for t, _, _ in get_entities(s)})

    result: dict[str, Any] = {"per_type": {}}
    if not types:  # no entity anywhere: every ratio is 0/0, and seqeval's macro would be NaN
        for average in ("micro", "macro", "weighted"):
            result[average] = (0.0, 0.0, 0.0)
        return result
    p, r, f, s = precision_recall_fscore_support(gold, pred, average=None, zero_division=0, **common)
    result["per_type"] = {
        name: {
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(s[i]),
        }
        for i, name in enumerate(types)
    }
    for average in ("micro", "macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(gold, pred, average=average, zero_division=0, **common)
        result[average] = (float(p), float(r), float(f))
    return result


def _spans(sequences: list[list[str]], mode: str) -> list[set[Span]]:
    """Entities of each sentence as (start, end_exclusive, type), read as seqeval reads them."""
    if mode == "strict":
        from seqeval.scheme import IOB2, Entities

        return [{(e.start, e.end, e.tag) for e in ents} for ents in Entities(sequences, IOB2).entities]
    from seqeval.metrics.sequence_labeling import get_entities

    return [{(start, end + 1, t) for t, start, end in get_entities(seq)} for seq in sequences]


def _errors(
    gold_spans: list[set[Span]],
    pred_spans: list[set[Span]],
    tokens: list[list[str]] | None,
    max_errors: int,
) -> list[dict[str, Any]]:
    counts: Counter[tuple[str, str | None, str | None, str | None]] = Counter()
    for i, (gold, pred) in enumerate(zip(gold_spans, pred_spans)):
        words = tokens[i] if tokens is not None else None
        for kind, span, gold_type, pred_type in _sentence_errors(gold, pred):
            text = _surface(words[span[0] : span[1]]) if words is not None else None
            counts[(kind, text, gold_type, pred_type)] += 1
    ranked = sorted(
        counts.items(),
        key=lambda item: (-item[1], item[0][1] or "", item[0][0], item[0][2] or "", item[0][3] or ""),
    )
    return [
        {"kind": kind, "text": text, "gold": g, "predicted": p, "count": int(n)}
        for (kind, text, g, p), n in ranked[:max_errors]
    ]


def _errors_by_type(gold_spans: list[set[Span]], pred_spans: list[set[Span]]) -> dict[str, dict[str, int]]:
    """Every error (not only the listed ones) counted per entity type and kind, types sorted by
    name: a missed, wrong-type or wrong-boundary error counts for the gold entity's type, a false
    positive for the predicted type. Types without errors are left out."""
    counts: dict[str, Counter[str]] = {}
    for gold, pred in zip(gold_spans, pred_spans):
        for kind, _, gold_type, pred_type in _sentence_errors(gold, pred):
            typ = gold_type if gold_type is not None else pred_type
            counts.setdefault(str(typ), Counter())[kind] += 1
    kinds = ("false_negative", "false_positive", "wrong_type", "wrong_boundary")
    return {typ: {kind: int(counts[typ][kind]) for kind in kinds} for typ in sorted(counts)}


def _sentence_errors(gold: set[Span], pred: set[Span]) -> list[tuple[ErrorKind, Span, str | None, str | None]]:
    """(kind, span whose text is shown, gold type, predicted type) for every error in a sentence."""
    exact = gold & pred
    gold_left = sorted(gold - exact)
    pred_left = sorted(pred - exact)
    out: list[tuple[ErrorKind, Span, str | None, str | None]] = []

    by_bounds = {(s, e): t for s, e, t in gold_left}  # spans of one sentence never overlap
    unmatched_pred: list[Span] = []
    for span in pred_left:
        gold_type = by_bounds.get(span[:2])
        if gold_type is not None:  # same bounds, and not an exact match: another type
            out.append(("wrong_type", span, gold_type, span[2]))
            gold_left.remove((span[0], span[1], gold_type))
        else:
            unmatched_pred.append(span)

    false_pos: list[Span] = []
    for span in unmatched_pred:
        start, end, typ = span
        partner = next((g for g in gold_left if g[2] == typ and g[0] < end and start < g[1]), None)
        if partner is not None:
            out.append(("wrong_boundary", partner, typ, typ))
            gold_left.remove(partner)
        else:
            false_pos.append(span)

    out.extend(("false_positive", span, None, span[2]) for span in false_pos)
    out.extend(("false_negative", span, span[2], None) for span in gold_left)
    return out


def _surface(words: Sequence[str]) -> str:
    """Join tokens with spaces, or without when every token is a single CJK character."""
    if words and all(len(w) == 1 and _is_cjk(w) for w in words):
        return "".join(words)
    return " ".join(words)


_CJK_RANGES = (
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x312F),  # Bopomofo
    (0x3130, 0x318F),  # Hangul compatibility jamo
    (0x31A0, 0x31FF),  # Bopomofo extended, CJK strokes, Katakana phonetic extensions
    (0x3200, 0x4DBF),  # enclosed CJK, CJK compatibility, CJK unified ideographs extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF00, 0xFFEF),  # halfwidth and fullwidth forms
    (0x20000, 0x3134F),  # CJK unified ideographs extensions B to G, compatibility supplement
)


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return any(lo <= code <= hi for lo, hi in _CJK_RANGES)
