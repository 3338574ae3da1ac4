"""The records `tunelab train` keeps of its data: the resume record's hashes, ``tunelab.json``'s data
part and the summary printed at start (split from workflow/train.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from tunelab.artifact import DataMeta, FileRef, examples_fingerprint, file_sha256, portable_path

if TYPE_CHECKING:
    from tunelab.workflow.train import PreparedData


def data_record(prepared: PreparedData) -> dict[str, dict[str, Any]]:
    """Per split: its file, the file's sha256 and a fingerprint of the examples read (carved splits have no file)."""
    files = prepared.splits.files
    record = {}
    for name, examples in prepared.parts.items():
        if not examples:
            continue
        path = files.get(name)
        record[name] = {
            "file": str(path) if path else None,
            "sha256": file_sha256(path) if path else None,
            "examples": len(examples),
            "fingerprint": examples_fingerprint(examples),
        }
    return record


def data_meta(prepared: PreparedData, output: Path, record: dict[str, dict[str, Any]]) -> DataMeta:
    """The data part of ``tunelab.json``; file hashes and example fingerprints come from the run's record."""
    splits, parts, encoded = prepared.splits, prepared.parts, prepared.encoded
    files = {
        name: FileRef(
            path=portable_path(path, output), sha256=(record.get(name) or {}).get("sha256") or file_sha256(path)
        )
        for name, path in splits.files.items()
        if path
    }
    # A carved dev split is remembered by its lines in the training file: export scores exactly it.
    dev_lines = [ex.line for ex in parts["dev"]] if splits.dev_source == "split" else None
    return DataMeta(
        reading=splits.describe(),
        files=files,
        dev_source=splits.dev_source,
        test_source=splits.test_source,
        dev_lines=dev_lines,
        counts={name: len(examples) for name, examples in parts.items()},
        truncated={name: enc.num_truncated for name, enc in encoded.items()},
        fingerprint={name: facts["fingerprint"] for name, facts in record.items()},
        augmented=prepared.augmented or {},
    )


def print_data_summary(console: Console, prepared: PreparedData) -> None:
    splits, parts, task, resolved = prepared.splits, prepared.parts, prepared.task, prepared.resolved
    counts = ", ".join(f"{name} {len(examples)}" for name, examples in parts.items() if examples)
    dev_note = " (dev carved from train)" if splits.dev_source == "split" else ""
    reading = splits.describe()
    columns = reading.get("columns") or {}
    where = f"; text column '{columns['text']}'" if columns.get("text") else ""
    if columns.get("text_pair"):
        where += f" + '{columns['text_pair']}'"
    where += f", label column '{columns.get('label')}' (no header)" if reading.get("header") is False else ""
    labels = f"; {len(task.labels)} labels" if task.labels else ""
    console.print(f"data: {counts}{dev_note}{labels}{where}")
    masked = (reading.get("mask_pii") or {}).get("masked")
    if masked is not None:  # data.mask_pii: what was masked, per type (also in tunelab.json's data.reading)
        console.print("pii masked: " + (", ".join(f"{n} {kind}" for kind, n in masked.items()) or "nothing found"))
    console.print(f"model: {resolved.name} ({resolved.source}: {resolved.path}), max_length {prepared.max_length}")
    for name, enc in prepared.encoded.items():
        if enc.num_truncated:
            share = 100.0 * enc.num_truncated / max(1, len(enc))
            console.print(
                f"[yellow]{name}: {enc.num_truncated} of {len(enc)} texts ({share:.1f}%) truncated at "
                f"{prepared.max_length} tokens[/] (raise model.max_length to keep more)"
            )
