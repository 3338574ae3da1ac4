"""Relation extraction: the relation between two marked entities of a text (SemEval-2010 Task 8, FinRE)."""

from tunelab.tasks import TaskSpec, register_task
from tunelab.tasks.relation_extraction.config import RelationExtractionConfig, RelationExtractionData

SPEC = register_task(
    TaskSpec(
        name="relation_extraction",
        config=RelationExtractionConfig,
        data=RelationExtractionData,
        task="tunelab.tasks.relation_extraction.task:RelationExtractionTask",
        summary="the relation between two marked entities of a text",
        aliases=("re", "relation"),
    )
)
