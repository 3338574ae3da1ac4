"""Text regression: a number per text or text pair (similarity scores, ratings, intensities)."""

from tunelab.tasks import TaskSpec, register_task
from tunelab.tasks.text_regression.config import TextRegressionConfig, TextRegressionData

SPEC = register_task(
    TaskSpec(
        name="text_regression",
        config=TextRegressionConfig,
        data=TextRegressionData,
        task="tunelab.tasks.text_regression.task:TextRegressionTask",
        summary="a number per text or text pair",
        aliases=("regression",),
    )
)
