"""Window outputs back to words (interim: moves here from align.py)."""

from tunelab.tasks.token_classification.align import continued_tag, covering_words, word_outputs  # noqa: F401
