"""The official scorers of SQuAD (v1.1 and v2.0, English) and CMRC 2018 (Chinese), re-implemented
line for line: neither is a library one can import (they are single scripts in the datasets'
repositories; Hugging Face ``evaluate`` loads them from the Hub, which is not reachable offline).

- SQuAD: answers normalised (lower case, punctuation and the articles a/an/the removed, whitespace
  collapsed); EM = normalised strings equal; F1 over the bag of whitespace tokens; the maximum over
  the gold answers. SQuAD v2.0: an unanswerable question has the gold answer "" and scores 1 only
  when nothing is predicted.
- CMRC 2018: lower-cased, stripped, Chinese characters and the listed punctuation one segment
  each, other runs tokenised as words (the official script uses NLTK's ``word_tokenize``; NLTK is
  not a dependency, so runs are split like its Treebank tokenizer: words and single punctuation
  marks); F1 from the longest common *contiguous* run of segments; EM on strings with the listed
  punctuation removed; the maximum over the gold answers.

Scores are 0-1, like every tunelab metric (the official scripts print 0-100).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from typing import Any

METRIC_DIRECTIONS: dict[str, str] = {"f1": "max", "exact_match": "max", "loss": "min"}

# -- SQuAD -----------------------------------------------------------------------------------------
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def squad_exact(gold: str, predicted: str) -> float:
    return float(normalize_answer(gold) == normalize_answer(predicted))


def squad_f1(gold: str, predicted: str) -> float:
    gold_tokens, pred_tokens = normalize_answer(gold).split(), normalize_answer(predicted).split()
    if not gold_tokens or not pred_tokens:  # v2.0: no answer on either side scores 1 only if both
        return float(gold_tokens == pred_tokens)
    common = Counter(gold_tokens) & Counter(pred_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


# -- CMRC 2018 ---------------------------------------------------------------------------------------
CMRC_PUNCTUATION = frozenset(
    [
        "-", ":", "_", "*", "^", "/", "\\", "~", "`", "+", "=", "，", "。", "：", "？", "！", "“", "”", "；", "’",
        "《", "》", "……", "·", "、", "「", "」", "（", "）", "－", "～", "『", "』",
    ]
)  # fmt: skip
_CJK = re.compile(r"[\u4e00-\u9fa5]")
_WORDS = re.compile(r"\w+(?:[-'.]\w+)*|[^\w\s]", re.UNICODE)


def _word_tokenize(text: str) -> list[str]:
    return _WORDS.findall(text)


def mixed_segmentation(text: str, remove_punctuation: bool = False) -> list[str]:
    """CMRC 2018's segmentation: each Chinese character and listed punctuation mark on its own,
    other runs split into words."""
    text = str(text).lower().strip()
    segments: list[str] = []
    run = ""
    for ch in text:
        if remove_punctuation and ch in CMRC_PUNCTUATION:
            continue
        if _CJK.search(ch) or ch in CMRC_PUNCTUATION:
            if run:
                segments.extend(_word_tokenize(run))
                run = ""
            segments.append(ch)
        else:
            run += ch
    if run:
        segments.extend(_word_tokenize(run))
    return segments


def remove_cmrc_punctuation(text: str) -> str:
    return "".join(ch for ch in str(text).lower().strip() if ch not in CMRC_PUNCTUATION)


def longest_common_run(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common contiguous run of two segment lists (the official find_lcs)."""
    best = 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            if x == y:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def cmrc_f1(gold: str, predicted: str) -> float:
    gold_segments = mixed_segmentation(gold, remove_punctuation=True)
    pred_segments = mixed_segmentation(predicted, remove_punctuation=True)
    if not gold_segments and not pred_segments:
        return 1.0 if gold == predicted == "" else 0.0
    common = longest_common_run(gold_segments, pred_segments)
    if common == 0:
        return 0.0
    precision, recall = common / len(pred_segments), common / len(gold_segments)
    return 2 * precision * recall / (precision + recall)


def cmrc_exact(gold: str, predicted: str) -> float:
    return float(remove_cmrc_punctuation(gold) == remove_cmrc_punctuation(predicted))


SCORERS = {"en": (squad_exact, squad_f1), "zh": (cmrc_exact, cmrc_f1)}


def score_question(golds: Sequence[str], predicted: str, language: str) -> tuple[float, float]:
    """(EM, F1) of one prediction: the maximum over the gold answers."""
    exact, f1 = SCORERS[language]
    return max(exact(g, predicted) for g in golds), max(f1(g, predicted) for g in golds)


def detect_language(contexts: Sequence[str], sample: int = 200) -> str:
    """zh when CJK characters are most of the (non-space) characters of the first contexts."""
    cjk = other = 0
    for text in contexts[:sample]:
        for ch in text:
            if ch.isspace():
                continue
            if _CJK.match(ch):
                cjk += 1
            else:
                other += 1
    return "zh" if cjk > other else "en"


def best_threshold(
    margins: Sequence[float], span_scores: Sequence[float], empty_scores: Sequence[float]
) -> tuple[float, float]:
    """The no-answer threshold that maximises the total score (SQuAD v2.0's ``find_best_thresh``):
    a question is left unanswered when its margin (no-answer score - best span score) exceeds the
    threshold; ``span_scores`` is what each question scores answered with its best span,
    ``empty_scores`` unanswered. The threshold is halfway between the smallest margin left
    unanswered and the next lower one. Returns (threshold, mean score at it)."""
    n = len(margins)
    if n == 0:
        return 0.0, 0.0
    values = sorted({float(m) for m in margins}, reverse=True)
    total = float(sum(span_scores))
    best, threshold = total, values[0]  # abstain nowhere: no margin exceeds the largest
    by_value: dict[float, list[int]] = {}
    for i, m in enumerate(margins):
        by_value.setdefault(float(m), []).append(i)
    for k, value in enumerate(values):
        total += sum(empty_scores[i] - span_scores[i] for i in by_value[value])
        if total > best:  # abstain on every margin >= value: the threshold lies halfway to the next lower one
            best = total
            threshold = (value + values[k + 1]) / 2 if k + 1 < len(values) else value - 1.0
    return float(threshold), best / n


def qa_metrics(
    examples: Sequence[Any],
    predicted: Sequence[str],
    language: str,
    *,
    margins: Sequence[float] | None = None,
    best_spans: Sequence[str] | None = None,
) -> dict[str, Any]:
    """EM and F1 (0-1) over the questions; with unanswerable questions, the split into answerable
    (``has_answer_*``) and unanswerable (``no_answer_*``) ones; with ``margins`` and ``best_spans``
    (models that can abstain), the threshold that would maximise F1 and the F1 it reaches."""
    em: list[float] = []
    f1: list[float] = []
    has: list[int] = []
    no: list[int] = []
    for ex, text in zip(examples, predicted):
        e, f = score_question(ex.gold_texts, text, language)
        em.append(e)
        f1.append(f)
        (no if ex.unanswerable else has).append(len(em) - 1)
    n = len(em)
    result: dict[str, Any] = {
        "exact_match": sum(em) / n if n else 0.0,
        "f1": sum(f1) / n if n else 0.0,
        "num_examples": n,
        "metric_language": language,
    }
    if no:
        for name, group in (("has_answer", has), ("no_answer", no)):
            result[f"{name}_exact_match"] = sum(em[i] for i in group) / len(group) if group else 0.0
            result[f"{name}_f1"] = sum(f1[i] for i in group) / len(group) if group else 0.0
            result[f"{name}_count"] = len(group)
    if margins is not None and best_spans is not None and no:
        span_f1 = [score_question(ex.gold_texts, t, language)[1] for ex, t in zip(examples, best_spans)]
        empty_f1 = [float(ex.unanswerable) for ex in examples]
        threshold, best = best_threshold(list(margins), span_f1, empty_f1)
        result["best_f1_threshold"] = threshold
        result["best_f1"] = best
    return result
