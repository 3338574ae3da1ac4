"""Served throughput: `tunelab serve` against a naive FastAPI + Hugging Face pipeline service.

Both run on 127.0.0.1 in subprocesses, one at a time, and get the same bounded load: N requests of
one text each (BANKING77 dev texts), `concurrency` at a time, from httpx.AsyncClient. The baseline
is what one writes first: a sync endpoint calling `pipeline("text-classification")` once per
request. Every phase has a hard time limit; the subprocesses are always stopped.

    python benchmarks/serve.py --artifact /tmp/b77_serve [--requests 2000] [--concurrency 16]
        [--backend torch|onnx] [--baseline-artifact DIR] [--time-limit 900] [--json OUT]

Prints requests/s, p50/p99 latency and server CPU time per request for both, and the ratios.
On a machine shared with other work, requests/s follow the CPU share the servers get; CPU time
per request does not.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEXTS = ROOT / "data" / "banking77" / "dev.csv"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_texts(path: Path, limit: int = 5000) -> list[str]:
    if path.is_file():
        with path.open(encoding="utf-8", newline="") as fh:
            texts = [row["text"] for row in itertools.islice(csv.DictReader(fh), limit) if row.get("text")]
        if texts:
            return texts
    return [f"how do I check the status of my card payment number {i}?" for i in range(100)]


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its descendants, from /proc (0.0 where unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_seconds(int(child))
        return total
    except (OSError, ValueError, IndexError):
        return 0.0


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] if ordered else float("nan")


class Server:
    """A server subprocess on a free loopback port; stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, name: str, command: list[str], port: int, timeout: float) -> None:
        self.name, self.command, self.port, self.timeout = name, command, port, timeout
        self.url = f"http://127.0.0.1:{port}"
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-serve-{name}-{port}.log"

    def __enter__(self) -> Server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TUNELAB_")}  # no API keys: no auth
        env.update(TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        self.log_file = self.log.open("w")
        self.process = subprocess.Popen(
            self.command, env=env, stdout=self.log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/ready", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.__exit__()
        raise TimeoutError(f"{self.name} was not ready after {self.timeout:.0f} s; log: {self.log}")

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.log_file.close()


async def send_load(url: str, texts: list[str], requests: int, concurrency: int, time_limit: float) -> dict:
    """`requests` POSTs of one text, `concurrency` in flight; stops at `time_limit` seconds."""
    latencies: list[float] = []
    errors = 0
    counter = itertools.count()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def worker() -> None:
            nonlocal errors
            while (i := next(counter)) < requests:
                started = time.perf_counter()
                try:
                    response = await client.post(url + "/v1/predict", json={"texts": [texts[i % len(texts)]]})
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1

        started = time.perf_counter()
        timed_out = False
        try:
            await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), time_limit)
        except TimeoutError:
            timed_out = True
        elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "errors": errors,
        "timed_out": timed_out,
        "seconds": round(elapsed, 2),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(quantile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(quantile(latencies, 0.99) * 1000, 1),
    }


def batch_totals(url: str) -> tuple[float, float]:
    """(model calls, texts in them) so far, from tunelab's /metrics."""
    text = httpx.get(url + "/metrics", timeout=10).text
    found = [re.search(rf"^tunelab_batch_size_{name} (\S+)$", text, re.M) for name in ("count", "sum")]
    return tuple(float(m.group(1)) if m else 0.0 for m in found)


def measure(server: Server, texts: list[str], args, deadline: float) -> dict:
    with server:
        warmup = min(200, max(args.concurrency, args.requests // 10))
        asyncio.run(send_load(server.url, texts, warmup, args.concurrency, max(1.0, deadline - time.monotonic())))
        tunelab = server.name == "tunelab"
        calls = batch_totals(server.url) if tunelab else (0.0, 0.0)
        server_cpu, client_cpu = cpu_seconds(server.process.pid), time.process_time()
        result = asyncio.run(
            send_load(
                server.url,
                texts[warmup:] or texts,
                args.requests,
                args.concurrency,
                max(1.0, deadline - time.monotonic()),
            )
        )
        done = max(result["requests"], 1)
        # CPU per request does not depend on what else runs on the machine, unlike requests/s
        result["server_cpu_ms_per_request"] = round((cpu_seconds(server.process.pid) - server_cpu) * 1000 / done, 2)
        result["client_cpu_ms_per_request"] = round((time.process_time() - client_cpu) * 1000 / done, 2)
        if tunelab:
            count, texts_done = (after - before for after, before in zip(batch_totals(server.url), calls))
            result.update(model_calls=int(count), mean_batch_size=round(texts_done / max(count, 1), 2))
        result["load_average_1m"] = round(os.getloadavg()[0], 2)
    print(
        f"{server.name:>9}: {result['requests_per_second']:8.1f} req/s   p50 {result['p50_ms']:7.1f} ms   "
        f"p99 {result['p99_ms']:7.1f} ms   server CPU {result['server_cpu_ms_per_request']:5.1f} ms/request   "
        f"({result['requests']} ok, {result['errors']} errors"
        f"{', TIMED OUT' if result['timed_out'] else ''})",
        flush=True,
    )
    return result


def serve_baseline(artifact: str, port: int) -> None:
    """The naive service: one pipeline call per request in a sync endpoint (FastAPI's thread pool)."""
    import uvicorn
    from fastapi import FastAPI
    from transformers import pipeline

    classify = pipeline("text-classification", model=artifact)
    app = FastAPI()

    @app.post("/v1/predict")
    def predict(body: dict) -> dict:
        return {"predictions": classify(body["texts"])}

    @app.get("/ready")
    def ready() -> dict:
        return {"status": "ready"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", help="tunelab artifact (or exported directory) to serve")
    parser.add_argument("--baseline-artifact", help="model for the pipeline baseline (default: --artifact)")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--backend", choices=["torch", "onnx"], default=None)
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default=None, help="torch backend dtype")
    parser.add_argument("--parallel-batches", type=int, help="model calls at once in tunelab (default: its own)")
    parser.add_argument("--threads", type=int, help="model threads for tunelab (default: its own default)")
    parser.add_argument("--texts", type=Path, default=DEFAULT_TEXTS, help="CSV with a 'text' column")
    parser.add_argument("--time-limit", type=float, default=900, help="hard limit for the whole run, seconds")
    parser.add_argument("--startup-timeout", type=float, default=180)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--serve-baseline", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        return serve_baseline(args.serve_baseline, args.port)
    if not args.artifact:
        parser.error("--artifact is required")

    deadline = time.monotonic() + args.time_limit
    texts = read_texts(args.texts)
    port = free_port()
    command = (
        [
            sys.executable,
            "-m",
            "tunelab.cli.app",
            "serve",
            args.artifact,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--max-batch-size",
            str(args.max_batch_size),
            "--max-wait-ms",
            str(args.max_wait_ms),
        ]
        + (["--backend", args.backend] if args.backend else [])
        + (["--threads", str(args.threads)] if args.threads else [])
        + (["--dtype", args.dtype] if args.dtype else [])
        + (["--parallel-batches", str(args.parallel_batches)] if args.parallel_batches else [])
    )
    print(
        f"{args.requests} requests of 1 text, concurrency {args.concurrency}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f} before start",
        flush=True,
    )
    results = {
        "config": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if not k.startswith("serve") and k != "port"
        }
    }
    results["tunelab"] = measure(Server("tunelab", command, port, args.startup_timeout), texts, args, deadline)
    if not args.skip_baseline:
        port = free_port()
        baseline = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve-baseline",
            args.baseline_artifact or args.artifact,
            "--port",
            str(port),
        ]
        results["baseline"] = measure(Server("baseline", baseline, port, args.startup_timeout), texts, args, deadline)
        ratio = results["tunelab"]["requests_per_second"] / max(results["baseline"]["requests_per_second"], 1e-9)
        results["ratio"] = round(ratio, 2)
        cpu_ratio = results["baseline"]["server_cpu_ms_per_request"] / max(
            results["tunelab"]["server_cpu_ms_per_request"], 1e-9
        )
        results["cpu_efficiency_ratio"] = round(cpu_ratio, 2)
        print(
            f"    ratio: {ratio:.2f}x requests/s, {cpu_ratio:.2f}x less server CPU per request (tunelab vs baseline)",
            flush=True,
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
