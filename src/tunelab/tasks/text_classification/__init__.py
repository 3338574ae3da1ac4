"""Text classification: one label (softmax) or several (sigmoid) per text or text pair."""

from tunelab.tasks import TaskSpec, register_task
from tunelab.tasks.text_classification.config import TextClassificationConfig, TextClassificationData

SPEC = register_task(
    TaskSpec(
        name="text_classification",
        config=TextClassificationConfig,
        data=TextClassificationData,
        task="tunelab.tasks.text_classification.task:TextClassificationTask",
        summary="a label (or several) per text or text pair",
        aliases=("classification",),
    )
)
