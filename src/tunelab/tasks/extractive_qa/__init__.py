"""Extractive question answering: the answer to a question as a span of its context (SQuAD, CMRC 2018)."""

from tunelab.tasks import TaskSpec, register_task
from tunelab.tasks.extractive_qa.config import ExtractiveQaConfig, ExtractiveQaData

SPEC = register_task(
    TaskSpec(
        name="extractive_qa",
        config=ExtractiveQaConfig,
        data=ExtractiveQaData,
        task="tunelab.tasks.extractive_qa.task:ExtractiveQaTask",
        summary="the answer to a question as a span of its context (SQuAD, CMRC 2018)",
        aliases=("qa", "squad"),
    )
)
