"""Optional task hooks, beyond the :class:`~tunelab.tasks.base.Task` protocol: the core calls them
through these functions, whose defaults keep every task that does not define them unchanged.

- ``input_fields`` / ``examples_from_items``: one prediction input as named fields (``{question,
  context}`` for extractive QA) instead of a text and optional text pair: the service's ``items``
  and ``tunelab predict --NAME VALUE``. By default the fields are ``text`` (and ``text_pair`` for
  pair models), handed to ``make_examples``.

One input may become several model rows (a long context, several windows): ``encode`` makes the
rows, and ``scorer``/``predictions``/``prediction_records`` reduce each input's rows to one result;
the core only ever counts results per input from those (see docs/adding-a-task.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tunelab.errors import InputError


def input_fields(task: Any) -> tuple[str, ...]:
    """The named fields of one input of ``task``."""
    declared = tuple(getattr(task, "input_fields", ()) or ())
    if declared:
        return declared
    return ("text", "text_pair") if getattr(task, "pairs", False) else ("text",)


def examples_from_items(task: Any, items: Sequence[Mapping[str, Any]]) -> list[Any]:
    """The task's examples for inputs given as named fields; an InputError for a missing or
    unknown field (the service answers 422, the CLI exits 2)."""
    own = getattr(task, "examples_from_items", None)
    if own is not None:
        return list(own(items))
    fields = input_fields(task)
    for i, item in enumerate(items):
        unknown = sorted(set(item) - set(fields))
        missing = [f for f in fields if not isinstance(item.get(f), str)]
        if unknown or missing:
            raise InputError(
                f"items[{i}]: {'unknown fields ' + str(unknown) if unknown else 'missing ' + str(missing)}; "
                f"this model takes {', '.join(fields)}"
            )
    texts = [item["text"] for item in items]
    pairs = [item["text_pair"] for item in items] if "text_pair" in fields else None
    return list(task.make_examples(texts, text_pairs=pairs))


def items_from_options(fields: Sequence[str], named: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    """``--question A --context B --question C --context D`` as items: the i-th value of each field
    makes the i-th item; every field given the same number of times."""
    values: dict[str, list[str]] = {}
    for name, value in named:
        key = name.replace("-", "_")
        if key not in fields:
            options = ", ".join(f"--{f.replace('_', '-')}" for f in fields)
            raise InputError(f"unknown option --{name}; this model takes {options} (and the usual options)")
        values.setdefault(key, []).append(value)
    if not values:
        return []
    counts = {name: len(v) for name, v in values.items()}
    missing = [f for f in fields if f not in values and not (f == "text_pair" and "text" in values)]
    if missing or len(set(counts.values())) != 1:
        shown = ", ".join(f"--{f.replace('_', '-')}" for f in fields)
        raise InputError(f"give {shown} once per input (got {counts})")
    n = next(iter(counts.values()))
    return [{name: v[i] for name, v in values.items()} for i in range(n)]
