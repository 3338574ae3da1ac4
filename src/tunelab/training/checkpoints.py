"""Checkpoint directories of a run: written atomically, the newest K kept, found again on resume.

A checkpoint is a directory ``checkpoints/step-00000120`` holding what ``accelerate.save_state``
writes (weights, optimizer, scheduler, every process's RNG state, the loop's counters) and, last,
``checkpoint.json``. It is built under a hidden temporary name and renamed into place only when
complete, so a run killed while writing one (SIGKILL, power loss) leaves the previous checkpoints
intact and its half-written directory is ignored (and removed by the next save).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunelab.files import write_json

INFO_FILE = "checkpoint.json"
_NAME = re.compile(r"^step-(\d{8,})$")


@dataclass(frozen=True)
class CheckpointInfo:
    path: Path
    step: int
    info: dict[str, Any]


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def temporary_dir(root: Path, step: int) -> Path:
    return root / f".{checkpoint_name(step)}.tmp"


def complete_checkpoints(root: Path) -> list[CheckpointInfo]:
    """The complete checkpoints under ``root``, oldest first (a directory without its
    ``checkpoint.json``, or with an unreadable one, is not complete)."""
    found: list[CheckpointInfo] = []
    if not root.is_dir():
        return found
    for child in root.iterdir():
        match = _NAME.match(child.name)
        if not match or not child.is_dir():
            continue
        try:
            info = json.loads((child / INFO_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(info, dict):
            found.append(CheckpointInfo(child, int(match.group(1)), info))
    return sorted(found, key=lambda c: c.step)


def newest_checkpoint(root: Path) -> CheckpointInfo | None:
    found = complete_checkpoints(root)
    return found[-1] if found else None


def finish(root: Path, step: int, info: dict[str, Any], keep: int) -> Path:
    """Seal the temporary directory of ``step`` (its info file last), rename it into place and
    delete all but the newest ``keep`` checkpoints and any leftover temporary directories."""
    tmp = temporary_dir(root, step)
    write_json(info, tmp / INFO_FILE)
    final = root / checkpoint_name(step)
    if final.exists():  # the same step saved again (e.g. after a resume): the new one replaces it
        shutil.rmtree(final)
    tmp.rename(final)
    for old in complete_checkpoints(root)[:-keep]:
        shutil.rmtree(old.path, ignore_errors=True)
    for leftover in root.glob(".step-*.tmp"):
        shutil.rmtree(leftover, ignore_errors=True)
    return final
