"""Experiment tracking (``training.trackers``): TensorBoard, Weights & Biases and MLflow.

One callback, :class:`ExperimentTracking`, drives accelerate's tracker classes (``GeneralTracker``:
``start``, ``store_init_configuration``, ``log``, ``log_images``, ``finish``) from the loop's hooks, on
the main process only. It logs the config (flattened to dotted keys), the training figures of every
logged step (the records of ``logs/train_log.jsonl``: ``train/loss``, ``train/learning_rate``, ...),
the dev metrics of every evaluation (``dev/<metric>``), and, once the artifact has been scored, the
final report's scalar metrics (``report/<split>/<metric>``) and its plots (:func:`finish_tracking`).

Offline by default, everything inside the run directory so it travels with the artifact:

- ``logs/tensorboard``: accelerate's ``TensorBoardTracker``;
- ``logs/wandb``: accelerate's ``WandBTracker`` with ``mode="offline"`` (``wandb sync`` uploads it);
- ``logs/mlruns``: an MLflow file store. accelerate's ``MLflowTracker`` does not fit: it talks to
  MLflow's process-global fluent API (``mlflow.set_tracking_uri``, one active run per process) and
  has no tracking-URI parameter, so :class:`MlflowStoreTracker` holds its own ``MlflowClient`` on the
  run's store behind the same ``GeneralTracker`` interface.

No file a tracker leaves in the run directory names an absolute path of the training machine: W&B's
debug logs and symlinks are removed when the run ends, the MLflow store's artifact locations are
rewritten relative to ``logs/`` (``cd <out>/logs && mlflow ui --backend-store-uri mlruns``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accelerate.tracking import GeneralTracker

from tunelab.config import flatten
from tunelab.errors import ConfigError
from tunelab.files import write_json
from tunelab.training.callbacks import Callback

if TYPE_CHECKING:
    from tunelab.config import TunelabConfig
    from tunelab.training.loop import Trainer

EXTRA = "pip install 'tunelab[tracking]'"
MODULES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}
STORES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlruns"}  # under <run>/logs
RUN_IDS = "trackers.json"  # the W&B and MLflow run ids, so a resumed run continues the same runs

_ACTIVE: list[ExperimentTracking] = []  # the runs still open after training, closed by finish_tracking


def check_trackers(names: Sequence[str]) -> None:
    """A requested tracker that is not installed is a ConfigError before anything is trained."""
    for name in names:
        if name not in MODULES:
            raise ConfigError(f"training.trackers: unknown tracker '{name}'; choose from {', '.join(MODULES)}")
        if importlib.util.find_spec(MODULES[name]) is None:
            raise ConfigError(f"training.trackers lists {name}, which is not installed: {EXTRA}")


def flatten_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, bool | int | float | str]:
    """``{"training": {"epochs": 3}}`` -> ``{"training.epochs": 3}`` (:func:`tunelab.config.flatten`);
    lists and nulls as JSON text, since trackers take scalars only."""
    return {
        f"{prefix}{key}": value if isinstance(value, (bool, int, float, str)) else json.dumps(value, default=str)
        for key, value in flatten(dict(config)).items()
    }


def scalars(metrics: Mapping[str, Any], prefix: str) -> dict[str, float]:
    return {
        f"{prefix}{k}": float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


@contextlib.contextmanager
def _file_store_allowed() -> Iterator[None]:
    """MLflow 3 keeps its file store in maintenance mode and refuses it unless MLFLOW_ALLOW_FILE_STORE
    is set; it is the one offline store that needs no database and travels as plain files."""
    previous = os.environ.get("MLFLOW_ALLOW_FILE_STORE")
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)
        else:
            os.environ["MLFLOW_ALLOW_FILE_STORE"] = previous


class MlflowStoreTracker(GeneralTracker):
    """MLflow through its own client on one tracking URI (see the module docstring for why not
    accelerate's ``MLflowTracker``); a resumed run continues ``run_id``."""

    name = "mlflow"
    requires_logging_directory = True

    def __init__(self, run_name: str, tracking_uri: str | None, experiment: str, run_id: str | None = None) -> None:
        super().__init__()
        self.run_name, self.tracking_uri, self.experiment, self.run_id = run_name, tracking_uri, experiment, run_id
        self.client: Any = None

    @property
    def tracker(self) -> Any:
        return self.client

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        with _file_store_allowed():
            return getattr(self.client, method)(*args, **kwargs)

    def start(self) -> None:
        from mlflow.tracking import MlflowClient

        with _file_store_allowed():
            self.client = MlflowClient(tracking_uri=self.tracking_uri)
        if self.run_id is not None:
            self._call("update_run", self.run_id, status="RUNNING")
            return
        found = self._call("get_experiment_by_name", self.experiment)
        experiment_id = found.experiment_id if found is not None else self._call("create_experiment", self.experiment)
        self.run_id = self._call("create_run", experiment_id, run_name=self.run_name).info.run_id

    def store_init_configuration(self, values: dict) -> None:
        from mlflow.entities import Param
        from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, MAX_PARAMS_TAGS_PER_BATCH

        params = [Param(k, str(v)[:MAX_PARAM_VAL_LENGTH]) for k, v in values.items()]
        existing = self._call("get_run", self.run_id).data.params  # a resumed run: parameters are write-once
        params = [p for p in params if p.key not in existing]
        for i in range(0, len(params), MAX_PARAMS_TAGS_PER_BATCH):
            self._call("log_batch", self.run_id, params=params[i : i + MAX_PARAMS_TAGS_PER_BATCH])

    def log(self, values: dict, step: int | None = None, **kwargs: Any) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, step or 0) for k, v in values.items() if isinstance(v, (int, float))]
        if metrics:
            self._call("log_batch", self.run_id, metrics=metrics)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self._call("log_artifact", self.run_id, str(path), artifact_path)

    def finish(self) -> None:
        if self.client is not None:
            self._call("set_terminated", self.run_id)


class ExperimentTracking(Callback):
    """Feeds ``names`` (tensorboard, wandb, mlflow) from the loop; the stores live under ``log_dir``."""

    def __init__(
        self,
        names: Sequence[str],
        log_dir: Path,
        *,
        config: Mapping[str, Any] | None = None,
        run_name: str | None = None,
        project: str = "tunelab",
        offline: bool = True,
        every: int = 1,
    ) -> None:
        check_trackers(names)
        self.names = list(names)
        self.log_dir = Path(log_dir)
        self.config = dict(config or {})
        self.run_dir_name = self.log_dir.parent.name.removesuffix(".partial") or "run"
        self.run_name = run_name or self.run_dir_name
        self.project, self.offline, self.every = project, offline, every
        self.trackers: list[GeneralTracker] = []
        self.step = 0
        self._loss_sum = 0.0
        self._loss_n = 0

    # -- the trackers --------------------------------------------------------------------------
    def _run_ids(self) -> dict[str, Any]:
        path = self.log_dir / RUN_IDS
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def _build(self, name: str, resumed_at: int, ids: dict[str, Any]) -> GeneralTracker:
        store = self.log_dir / STORES[name]
        if name == "tensorboard":
            from accelerate.tracking import TensorBoardTracker

            # a resumed run drops the events logged after its checkpoint (they are logged again)
            purge = {"purge_step": resumed_at + 1} if resumed_at else {}
            return TensorBoardTracker("", store, **purge)
        if name == "wandb":
            import wandb
            from accelerate.tracking import WandBTracker

            store.mkdir(parents=True, exist_ok=True)
            settings = wandb.Settings(
                console="off",  # the console names local paths; the metrics are logged anyway
                silent=True,
                save_code=False,
                disable_git=True,
                x_disable_meta=True,  # host, program and working directory: not for an artifact
                x_disable_stats=True,
                x_save_requirements=False,
            )
            return WandBTracker(
                self.project,
                name=self.run_name,
                dir=str(self.log_dir),  # wandb writes into <dir>/wandb
                mode="offline" if self.offline else None,
                id=ids.get("wandb"),
                resume="allow",
                settings=settings,
            )
        uri = None if not self.offline and os.environ.get("MLFLOW_TRACKING_URI") else store.resolve().as_uri()
        return MlflowStoreTracker(self.run_name, uri, self.project, run_id=ids.get("mlflow"))

    def on_train_begin(self, trainer: Trainer) -> None:
        if not trainer.accelerator.is_main_process or self.trackers:
            return
        for stale in list(_ACTIVE):  # a failed run in this process never reached finish_tracking
            stale.finish()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        resumed_at = trainer.state.global_step
        ids = self._run_ids() if resumed_at else {}
        self.step = resumed_at
        for name in self.names:
            tracker = self._build(name, resumed_at, ids)
            tracker.start()
            self.trackers.append(tracker)
        run_ids = {}
        for tracker in self.trackers:
            if tracker.name == "wandb":
                run_ids["wandb"] = tracker.tracker.id
            elif isinstance(tracker, MlflowStoreTracker):
                run_ids["mlflow"] = tracker.run_id
        write_json(run_ids, self.log_dir / RUN_IDS)
        self.store_config()
        _ACTIVE.append(self)

    def store_config(self) -> None:
        # paths as the artifact records them: relative to the run directory (no absolute path of this machine)
        base = self.log_dir.parent.with_name(self.run_dir_name)
        flat = {
            k: os.path.relpath(v, base) if isinstance(v, str) and os.path.isabs(v) else v
            for k, v in flatten_config(self.config).items()
        }
        for tracker in self.trackers:
            if tracker.name == "tensorboard":
                # add_hparams would add a second event file per run; a table of text reads as well
                table = "| key | value |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in flat.items())
                tracker.log({"config": table}, step=self.step)
            else:
                tracker.store_init_configuration(flat)

    def log(self, values: Mapping[str, Any], step: int) -> None:
        for tracker in self.trackers:
            tracker.log(dict(values), step=step)

    # -- the loop's hooks ----------------------------------------------------------------------
    def on_step_end(self, trainer: Trainer, logs: dict[str, float]) -> None:
        """The figures JsonlLogger writes, at the same steps: the loss averaged since the last record."""
        self._loss_sum += logs["loss"]
        self._loss_n += 1
        step = self.step = trainer.state.global_step
        if step % self.every and step != trainer.total_steps:
            return
        values = {
            "train/loss": self._loss_sum / self._loss_n,
            "train/learning_rate": logs["learning_rate"],
            "train/epoch": round(trainer.epoch_progress, 4),
            "train/samples_per_second": round(trainer.samples_per_second, 2),
        }
        self._loss_sum, self._loss_n = 0.0, 0
        self.log(values, step)

    def on_evaluate(self, trainer: Trainer, metrics: dict[str, Any], improved: bool) -> None:
        self.step = trainer.state.global_step
        self.log(scalars(metrics, "dev/"), self.step)

    def on_train_end(self, trainer: Trainer) -> None:
        # The runs stay open for the final report (finish_tracking), unless the run stops here.
        if trainer.state.stop_reason == "interrupted":
            self.finish()

    # -- the end -------------------------------------------------------------------------------
    def log_report(self, report: Mapping[str, Any], artifact_dir: Path) -> None:
        """The artifact's scores (``report/<split>/<metric>``, also W&B's summary) and its plots."""
        values: dict[str, float] = {}
        for split, metrics in (report.get("splits") or {}).items():
            values.update(scalars(metrics, f"report/{split}/"))
        plots = sorted(Path(artifact_dir).glob("*.png"))
        for tracker in self.trackers:
            if values:
                tracker.log(values, step=self.step)
            if tracker.name == "wandb":
                tracker.tracker.summary.update(values)
            for plot in plots:
                self._log_plot(tracker, plot)
            if isinstance(tracker, MlflowStoreTracker) and (Path(artifact_dir) / "report.json").is_file():
                tracker.log_artifact(Path(artifact_dir) / "report.json")

    def _log_plot(self, tracker: GeneralTracker, plot: Path) -> None:
        if isinstance(tracker, MlflowStoreTracker):
            tracker.log_artifact(plot, "plots")
            return
        import numpy as np
        from PIL import Image

        with Image.open(plot) as image:
            pixels = np.asarray(image.convert("RGB"))
        if tracker.name == "tensorboard":
            tracker.log_images({f"plots/{plot.stem}": pixels[None]}, step=self.step, dataformats="NHWC")
        else:
            tracker.log_images({f"plots/{plot.stem}": [pixels]}, step=self.step)

    def finish(self) -> None:
        """Close every run and leave stores that name no absolute path (see the module docstring)."""
        trackers, self.trackers = self.trackers, []
        for tracker in trackers:
            tracker.finish()
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        if "wandb" in self.names:
            _tidy_wandb(self.log_dir / STORES["wandb"])
        if "mlflow" in self.names and self.offline:
            _relative_mlflow_locations(self.log_dir / STORES["mlflow"])


def _tidy_wandb(root: Path) -> None:
    """W&B's symlinks (latest-run, debug*.log) and its debug logs, which name local paths."""
    if not root.is_dir():
        return
    for entry in list(root.iterdir()):
        if entry.is_symlink():
            entry.unlink()
        elif entry.is_dir():
            for name in ("logs", "tmp"):
                shutil.rmtree(entry / name, ignore_errors=True)


def _relative_mlflow_locations(store: Path) -> None:
    """The file store writes ``file:///abs/.../mlruns/<experiment>`` into every meta.yaml; rewrite it
    as ``mlruns/<experiment>``: relative to the ``logs`` directory, from which ``mlflow ui`` is run."""
    if not store.is_dir():
        return
    prefix = store.resolve().as_uri()
    for meta in store.rglob("meta.yaml"):
        text = meta.read_text(encoding="utf-8")
        if prefix in text:
            meta.write_text(text.replace(prefix, store.name), encoding="utf-8")


def tracking_callbacks(config: TunelabConfig, log_dir: Path) -> list[Callback]:
    """The callback for ``training.trackers`` (none when the list is empty); checks that each is installed."""
    training = config.training
    if not training.trackers:
        return []
    tracking = training.tracking
    return [
        ExperimentTracking(
            training.trackers,
            log_dir,
            config=config.to_dict(),
            run_name=tracking.run_name,
            project=tracking.project,
            offline=tracking.offline,
            every=training.log_every,
        )
    ]


def finish_tracking(report: Mapping[str, Any], artifact_dir: Path) -> None:
    """After the report: log its metrics and plots, close the runs and copy the finished stores into
    the artifact's ``logs`` (save_artifact copied them while the runs were still open)."""
    while _ACTIVE:
        session = _ACTIVE[-1]
        try:
            session.log_report(report, artifact_dir)
        finally:
            session.finish()
        for name in session.names:
            source = session.log_dir / STORES[name]
            target = Path(artifact_dir) / "logs" / STORES[name]
            if source.is_dir() and source.resolve() != target.resolve():
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(source, target)
        ids = session.log_dir / RUN_IDS
        if ids.is_file():
            shutil.copy2(ids, Path(artifact_dir) / "logs" / RUN_IDS)
