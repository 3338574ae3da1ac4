"""Helpers shared by benchmarks/train_speed.py and benchmarks/inference_speed.py.

Both scripts run every contender in its own subprocess (the same script with ``--worker NAME``),
one at a time, so that peak RSS is the contender's own and no contender warms caches, thread
pools or allocators for another. A worker reads its job from a JSON spec file and writes its
figures to a JSON result file; its stdout and stderr go to a log file (shown with --verbose, and
its tail on failure).

This module imports neither torch nor transformers at import time: the parent process stays light.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# Offline, quiet, and no tokenizer thread pool competing with torch for the 2 cores.
WORKER_ENV = {
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "PYTHONUNBUFFERED": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}


class WorkerError(RuntimeError):
    pass


def run_worker(
    script: Path, name: str, spec: dict[str, Any], workdir: Path, *, verbose: bool = False, timeout: float | None = None
) -> dict[str, Any]:
    """Run ``script --worker NAME --spec S --result R`` to completion and return its result dict.

    Sequential by construction (we wait): concurrent torch processes on a 2-core machine slow each
    other down several times over."""
    workdir.mkdir(parents=True, exist_ok=True)
    spec_path = workdir / f"{name}.spec.json"
    result_path = workdir / f"{name}.result.json"
    log_path = workdir / f"{name}.log"
    result_path.unlink(missing_ok=True)
    spec_path.write_text(json.dumps(spec, indent=2, default=str) + "\n")
    command = [sys.executable, str(script), "--worker", name, "--spec", str(spec_path), "--result", str(result_path)]
    env = {**os.environ, **WORKER_ENV}
    load_before = round(os.getloadavg()[0], 2)
    busy_before, children_before = _cpu_busy_seconds(), _children_cpu_seconds()
    started = time.perf_counter()
    with log_path.open("w") as log:
        try:
            done = subprocess.run(
                command,
                env=env,
                stdout=None if verbose else log,
                stderr=None if verbose else subprocess.STDOUT,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise WorkerError(f"worker {name} ran past {timeout:.0f} s; log: {log_path}") from None
    wall = time.perf_counter() - started
    busy_after, children_after = _cpu_busy_seconds(), _children_cpu_seconds()
    if done.returncode != 0 or not result_path.is_file():
        tail = "" if verbose else log_path.read_text(errors="replace")[-3000:]
        raise WorkerError(f"worker {name} failed (exit code {done.returncode}); log: {log_path}\n{tail}")
    result = json.loads(result_path.read_text())
    result["worker_wall_seconds"] = round(wall, 1)
    result["load_average_before"] = load_before
    result["worker_cpu_seconds"] = round(children_after - children_before, 1)
    if busy_before is not None and busy_after is not None and wall > 0:
        # CPU time the rest of the machine used while this worker ran, in cores (0 on a quiet machine)
        others = (busy_after - busy_before) - (children_after - children_before)
        result["other_processes_cores"] = round(max(0.0, others) / wall, 2)
    return result


def _cpu_busy_seconds() -> float | None:
    """Busy CPU time of the whole machine so far (all cores), from /proc/stat; None elsewhere."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def busy_note(result: dict[str, Any], threshold: float = 0.25) -> str | None:
    """A warning when other processes used more than ``threshold`` cores while a worker ran."""
    others = result.get("other_processes_cores")
    if others is None or others <= threshold:
        return None
    return (
        f"other processes kept {others:.2f} cores busy during this run ({os.cpu_count()} CPUs): "
        "the timing is not comparable with a run on a quiet machine"
    )


def write_result(path: str | Path, result: dict[str, Any]) -> None:
    """A worker's last act: its figures, plus its own peak RSS."""
    result = dict(result)
    result.setdefault("peak_rss_mb", peak_rss_mb())
    Path(path).write_text(json.dumps(result, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def peak_rss_mb() -> int:
    """Peak resident set size of this process so far (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile (no interpolation), as benchmarks/serve.py does."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def machine_info() -> dict[str, Any]:
    """What the figures depend on; the load average says how busy the shared CPU was."""
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    try:
        info["cpu_affinity"] = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        pass
    from importlib import metadata

    for package in ("torch", "transformers", "accelerate", "onnxruntime", "tunelab"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info[package] = None
    return info


def matmul_peak(seconds: float = 2.0, size: int = 2048) -> dict[str, Any]:
    """Measured matrix-multiply peak: torch.matmul of size x size matrices in bf16 and fp32, each
    repeated for about ``seconds`` after a warm-up, with torch's default thread count (the one
    every contender trains with). One product is 2 * size**3 floating-point operations."""
    import torch

    result: dict[str, Any] = {"threads": torch.get_num_threads(), "size": size, "seconds": seconds}
    flops = 2.0 * size**3
    generator = torch.Generator().manual_seed(0)
    for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        a = torch.randn(size, size, generator=generator).to(dtype)
        b = torch.randn(size, size, generator=generator).to(dtype)
        out = torch.empty(size, size, dtype=dtype)
        for _ in range(2):  # warm-up: oneDNN kernel selection, page faults
            torch.matmul(a, b, out=out)
        calls, started = 0, time.perf_counter()
        while True:
            torch.matmul(a, b, out=out)
            calls += 1
            elapsed = time.perf_counter() - started
            if elapsed >= seconds:
                break
        result[f"{name}_gflops"] = round(flops * calls / elapsed / 1e9, 1)
        result[f"{name}_calls"] = calls
    return result


def fmt(value: Any, spec: str = ".1f", missing: str = "-") -> str:
    """Format a number for a table cell; None/NaN -> ``missing``."""
    if value is None or (isinstance(value, float) and value != value):
        return missing
    return format(value, spec)


def add_common_arguments(parser) -> None:
    """--verbose, --json and the hidden worker plumbing every side-by-side benchmark shares."""
    import argparse

    parser.add_argument("--verbose", action="store_true", help="show the workers' output instead of logging it")
    parser.add_argument("--json", type=Path, help="write every figure to this JSON file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--spec", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
