"""Token classification (NER): a tag per word, entities with character offsets."""

from tunelab.tasks import TaskSpec, register_task
from tunelab.tasks.token_classification.config import TokenClassificationConfig, TokenClassificationData

SPEC = register_task(
    TaskSpec(
        name="token_classification",
        config=TokenClassificationConfig,
        data=TokenClassificationData,
        task="tunelab.tasks.token_classification.task:TokenClassificationTask",
        summary="entities (a tag per word) with character offsets",
        aliases=("ner",),
    )
)
