"""MicroBatcher with a fake model under asyncio.gather: grouping, per-request slices, splitting,
errors reaching the right requests, the worker thread, cancellation, back-pressure; and the app
batching concurrent HTTP requests end to end."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import httpx
import pytest

from tunelab.serve.app import create_app
from tunelab.serve.batching import BatcherClosed, MicroBatcher, QueueFull
from tunelab.serve.settings import ServeSettings


class FakeModel:
    """Counts calls and batch sizes; answers ``text:key``; fails on 'boom'; optionally slow or gated."""

    def __init__(self, delay: float = 0.0, gate: threading.Event | None = None):
        self.delay, self.gate = delay, gate
        self.batches: list[list[str]] = []
        self.keys: list[object] = []
        self.threads: set[int] = set()

    def __call__(self, items, key):
        self.threads.add(threading.get_ident())
        if self.gate is not None:
            assert self.gate.wait(10)
        self.batches.append(list(items))
        self.keys.append(key)
        time.sleep(self.delay)
        if "boom" in items:
            raise ValueError("model exploded")
        return [f"{item}:{key}" for item in items]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_concurrent_requests_share_calls_and_get_their_own_results():
    model = FakeModel(delay=0.01)
    requests = [[f"r{i}-t{j}" for j in range(1 + i % 3)] for i in range(60)]

    async def main():
        batcher = MicroBatcher(model, max_batch_size=8, max_wait_ms=20)
        results = await asyncio.gather(*(batcher.submit(texts, key=1) for texts in requests))
        await batcher.close()
        return results

    results = run(main())
    assert results == [[f"{t}:1" for t in texts] for texts in requests]
    sizes = [len(b) for b in model.batches]
    assert sum(sizes) == sum(map(len, requests)) and max(sizes) <= 8
    assert len(model.batches) < len(requests) / 2  # real grouping, not one call per request
    assert sorted(t for b in model.batches for t in b) == sorted(t for r in requests for t in r)


def test_a_request_larger_than_the_batch_is_split_in_order():
    model = FakeModel()

    async def main():
        batcher = MicroBatcher(model, max_batch_size=8, max_wait_ms=0)
        result = await batcher.submit([str(i) for i in range(20)])
        await batcher.close()
        return result

    assert run(main()) == [f"{i}:None" for i in range(20)]
    assert [len(b) for b in model.batches] == [8, 8, 4]


def test_an_exception_reaches_only_the_requests_of_its_batch():
    model = FakeModel(delay=0.01)

    async def main():
        batcher = MicroBatcher(model, max_batch_size=2, max_wait_ms=20)
        outcome = await asyncio.gather(
            batcher.submit(["a", "b"]),
            batcher.submit(["boom", "c"]),
            batcher.submit(["d", "e"]),
            return_exceptions=True,
        )
        after = await batcher.submit(["f"])  # the batcher keeps working after a failure
        await batcher.close()
        return outcome, after

    (first, failed, third), after = run(main())
    assert first == ["a:None", "b:None"] and third == ["d:None", "e:None"] and after == ["f:None"]
    assert isinstance(failed, ValueError) and str(failed) == "model exploded"


def test_inference_runs_in_a_worker_thread_and_the_loop_stays_free():
    model = FakeModel(delay=0.3)
    ticks = []

    async def main():
        batcher = MicroBatcher(model, max_batch_size=4, max_wait_ms=0)

        async def heartbeat():
            for _ in range(10):
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        await asyncio.gather(batcher.submit(["x"]), heartbeat())
        await batcher.close()
        return threading.get_ident()

    loop_thread = run(main())
    assert model.threads and loop_thread not in model.threads
    assert len(ticks) == 10 and ticks[-1] - ticks[0] < 0.25  # ticked while the model slept 0.3 s


def test_max_concurrent_model_calls_overlap_in_separate_threads():
    active, peak, lock = [0], [0], threading.Lock()

    def model(items, key):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return [threading.get_ident()] * len(items)

    async def main():
        batcher = MicroBatcher(model, max_batch_size=2, max_wait_ms=0, max_concurrent=2)
        results = await asyncio.gather(*(batcher.submit([i, i]) for i in range(8)))
        await batcher.close()
        return results

    results = run(main())
    assert peak[0] == 2  # never more than max_concurrent at once, and really in parallel
    assert len({r[0] for r in results}) == 2  # two worker threads


def test_requests_wait_at_most_max_wait_for_company():
    model = FakeModel()

    async def main():
        batcher = MicroBatcher(model, max_batch_size=8, max_wait_ms=100)
        first = asyncio.ensure_future(batcher.submit(["a"]))
        await asyncio.sleep(0.02)
        second = asyncio.ensure_future(batcher.submit(["b"]))
        started = time.monotonic()
        await asyncio.gather(first, second)
        waited = time.monotonic() - started
        await batcher.close()
        return waited

    waited = run(main())
    assert model.batches == [["a", "b"]]  # the second request joined the waiting batch
    assert waited < 0.5


def test_different_keys_never_share_a_call():
    model = FakeModel(delay=0.01)

    async def main():
        batcher = MicroBatcher(model, max_batch_size=16, max_wait_ms=20)
        results = await asyncio.gather(*(batcher.submit([f"t{i}"], key=1 + i % 2) for i in range(10)))
        await batcher.close()
        return results

    assert run(main()) == [[f"t{i}:{1 + i % 2}"] for i in range(10)]
    for batch, key in zip(model.batches, model.keys):
        assert all(int(text[1:]) % 2 + 1 == key for text in batch)


def test_cancelled_requests_are_not_computed_and_queue_is_bounded():
    gate = threading.Event()
    model = FakeModel(gate=gate)

    async def main():
        batcher = MicroBatcher(model, max_batch_size=4, max_wait_ms=0, max_queue=6)
        running = asyncio.ensure_future(batcher.submit(["first"]))
        await asyncio.sleep(0.05)  # now blocked in the model
        waiting = asyncio.ensure_future(batcher.submit(["gone-1", "gone-2"]))
        kept = asyncio.ensure_future(batcher.submit(["kept"]))
        await asyncio.sleep(0.01)
        assert batcher.queued == 3
        with pytest.raises(QueueFull):
            await batcher.submit(["a", "b", "c", "d"])
        waiting.cancel()
        gate.set()
        results = await asyncio.gather(running, kept)
        await batcher.close()
        with pytest.raises(BatcherClosed):
            await batcher.submit(["late"])
        return results

    assert run(main()) == [["first:None"], ["kept:None"]]
    assert model.batches == [["first"], ["kept"]]


def test_close_fails_waiting_requests():
    gate = threading.Event()
    model = FakeModel(gate=gate)

    async def main():
        batcher = MicroBatcher(model, max_batch_size=1, max_wait_ms=0)
        tasks = [asyncio.ensure_future(batcher.submit([t])) for t in ("a", "b")]
        await asyncio.sleep(0.05)
        await batcher.close()
        gate.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    assert all(isinstance(r, BatcherClosed) for r in run(main()))


class FakePredictor:
    """Enough of a Predictor for the app: counts model calls."""

    def __init__(self):
        self.task = SimpleNamespace(name="text_classification", multi_label=False)
        self.labels = ["neg", "pos"]
        self.meta = {"model": {"max_length": 16}, "versions": {}}
        self.metrics, self.max_length = {}, 16
        self.backend = SimpleNamespace(name="fake")
        self.calls: list[int] = []

    def predict_scores(self, texts, top_k=1):
        self.calls.append(len(texts))
        time.sleep(0.02)
        return [
            {"text": t, "label": "pos", "score": 0.9, "top": [{"label": "pos", "score": 0.9}][:top_k]} for t in texts
        ]


def test_app_batches_concurrent_http_requests(tmp_path):
    predictor = FakePredictor()
    app = create_app(
        ServeSettings(artifact=tmp_path, max_batch_size=16, max_wait_ms=10), loader=lambda settings: predictor
    )

    async def main():
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                while (await client.get("/ready")).status_code != 200:
                    await asyncio.sleep(0.01)
                responses = await asyncio.gather(
                    *(client.post("/v1/predict", json={"texts": [f"text {i}", f"again {i}"]}) for i in range(40))
                )
                metrics = (await client.get("/metrics")).text
        return responses, metrics

    responses, metrics = run(main())
    for i, response in enumerate(responses):
        assert response.status_code == 200
        assert [p["text"] for p in response.json()["predictions"]] == [f"text {i}", f"again {i}"]
    assert sum(predictor.calls) == 80 and max(predictor.calls) <= 16
    assert len(predictor.calls) <= 20  # 40 requests in a handful of model calls
    assert f"tunelab_batch_size_count {float(len(predictor.calls))}" in metrics
