"""Words with character offsets (interim: moves here from align.py)."""

from tunelab.tasks.token_classification.align import WordSequence, join_tokens, split_words, to_words  # noqa: F401
