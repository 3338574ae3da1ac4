"""`tunelab tune`: the best trial's artifact is the output (never the last trial's), pruning, a study
that resumes (after a finished run, a Ctrl-C and a kill), the search space and its errors."""

from __future__ import annotations

import csv
import json
import signal

import optuna
import pytest
import yaml
from rich.console import Console

from helpers import make_texts, tiny_overrides, write_csv
from tunelab.artifact import resolve_artifact_dir
from tunelab.config import load_config, parse_override
from tunelab.errors import ConfigError
from tunelab.inference.predictor import load
from tunelab.workflow import tune as tune_module
from tunelab.workflow.evaluate import evaluate_artifact
from tunelab.workflow.resume import compare
from tunelab.workflow.train import TrainingInterrupted, workdir_for
from tunelab.workflow.tune import STUDY_FILE, STUDY_NAME, open_study, tune
from tunelab.workflow.tune_space import default_space, format_value, resolve_search, trial_overrides

QUIET = Console(file=open("/dev/null", "w"))
LR = "training.learning_rate"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("tune-data")
    return {
        "train": write_csv(root / "train.csv", make_texts(120, seed=1)),
        "dev": write_csv(root / "dev.csv", make_texts(30, seed=2)),
    }


def write_config(path, space, **tune_settings):
    path.write_text(yaml.safe_dump({"tune": {"space": space, **tune_settings}}), encoding="utf-8")
    return path


def queue(out, *learning_rates):
    """A study whose first trials take these learning rates, in this order."""
    out.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(storage=f"sqlite:///{out / STUDY_FILE}", study_name=STUDY_NAME, direction="maximize")
    for lr in learning_rates:
        study.enqueue_trial({LR: lr})


def run(config, out, model_dir, data, trials, **settings):
    overrides = tiny_overrides(model_dir, data, **{"training.epochs": 2, **settings})
    return tune(config, output_dir=out, trials=trials, overrides=overrides, console=QUIET)


def summary(out):
    return json.loads((out / "tune.json").read_text(encoding="utf-8"))


# -- a study of 4 trials: the middle one is the best, the last is pruned --------------------------
# On the toy data over 4 epochs, the tiny model scores 0.33 (chance) at lr 1e-5 and 0.93-0.97 at the
# second evaluation with lr 5e-3 or 1e-2 (the best checkpoint, which the report scores).


@pytest.fixture(scope="module")
def study(tiny_model_dir, data, tmp_path_factory):
    root = tmp_path_factory.mktemp("tune")
    config = write_config(root / "tune.yaml", {LR: {"choices": [1e-5, 1e-2, 5e-3]}}, sampler="random")
    out = root / "out"
    queue(out, 1e-5, 1e-2, 5e-3, 1e-5)
    result = run(config, out, tiny_model_dir, data, 4, **{"training.epochs": 4})
    return out, result


@pytest.mark.train
def test_the_output_is_the_best_trials_artifact_not_the_last(study, data):
    out, result = study
    tuned = summary(out)
    trials = {t["number"]: t for t in tuned["trials"]}
    assert [trials[n]["state"] for n in range(4)] == ["complete", "complete", "complete", "pruned"]
    values = {n: t["value"] for n, t in trials.items() if t["state"] == "complete"}
    assert values[1] > values[2] > values[0]  # the best is a middle trial, not the last finished one
    assert tuned["best"]["trial"] == result.best_trial == 1
    assert tuned["best"]["value"] == result.best_value == max(values.values())
    # best/ is trial 1's artifact: its training, its dev metric, its weights
    best_meta = json.loads((out / "best" / "tunelab.json").read_text())
    trial_meta = json.loads((out / "trials" / "001" / "tunelab.json").read_text())
    assert best_meta["training"] == trial_meta["training"]
    assert best_meta["config"]["training"]["learning_rate"] == 1e-2
    best_report = json.loads((out / "best" / "report.json").read_text())
    assert best_report["splits"]["dev"]["accuracy"] == tuned["best"]["value"]
    for number in (0, 2):
        report = json.loads((out / "trials" / f"{number:03d}" / "report.json").read_text())
        assert report["splits"]["dev"]["accuracy"] == values[number] < tuned["best"]["value"]
    weights = "model.safetensors"
    assert (out / "best" / weights).read_bytes() == (out / "trials" / "001" / weights).read_bytes()
    # only the best trial keeps its weights; the others keep their reports
    assert not (out / "trials" / "000" / "model.safetensors").exists()
    assert not (out / "trials" / "002" / "model.safetensors").exists()
    assert [t["weights_kept"] for t in tuned["trials"]] == [False, True, False, False]


@pytest.mark.train
def test_a_bad_trial_is_pruned_and_removed(study):
    out, _ = study
    pruned = summary(out)["trials"][3]
    assert pruned["params"] == {LR: 1e-5} and pruned["value"] is None
    # stopped at its second evaluation (below the median of the trials before it), not trained to the fourth
    assert len(pruned["intermediate"]) == 2 and pruned["intermediate"][-1] < 0.5
    assert all(len(t["intermediate"]) == 4 for t in summary(out)["trials"][:3])
    assert pruned["directory"] is None
    assert not (out / "trials" / "003").exists() and not workdir_for(out / "trials" / "003").exists()


@pytest.mark.train
def test_table_files_one_row_per_trial(study):
    out, _ = study
    with (out / "trials.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["state"] for r in rows] == ["complete", "complete", "complete", "pruned"]
    assert [r["trial"] for r in rows] == ["0", "1", "2", "3"]
    assert float(rows[1]["value"]) == summary(out)["best"]["value"] and float(rows[1][LR]) == 1e-2
    assert (out / "trials.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert summary(out)["counts"] == {"complete": 3, "pruned": 1}


@pytest.mark.train
def test_load_and_evaluate_follow_best(study, data, monkeypatch, capsys):
    out, _ = study
    assert resolve_artifact_dir(out) == out / "best"
    predictor = load(out)
    assert predictor.meta.config["training"]["learning_rate"] == 1e-2
    assert len(predictor.predict(["refund my invoice please"])) == 1
    report = evaluate_artifact(out, data["dev"])
    assert report["metrics"]["accuracy"] == summary(out)["best"]["value"]
    from tunelab.cli.app import main

    monkeypatch.setattr("sys.argv", ["tunelab", "evaluate", str(out), str(data["dev"])])
    try:
        main()
    except SystemExit as exit_info:
        assert exit_info.code in (0, None)
    printed = capsys.readouterr()
    assert "accuracy" in printed.out + printed.err


# -- resuming: after a Ctrl-C (from the trial's checkpoint), after a finished run, after a kill ----


@pytest.mark.train
def test_the_study_resumes_without_rerunning_finished_trials(tiny_model_dir, data, tmp_path, monkeypatch):
    config = write_config(tmp_path / "tune.yaml", {LR: {"choices": [1e-2, 5e-3]}}, sampler="random", pruner="none")
    out = tmp_path / "out"
    calls = []
    original_train = tune_module.TrialReporter.on_train_begin

    def counting(self, trainer):
        calls.append(self.trial.number)
        original_train(self, trainer)

    def interrupt(self, trainer, logs):
        if trainer.state.global_step == 10:  # mid-epoch 2 of trial 0
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(tune_module.TrialReporter, "on_train_begin", counting)
    monkeypatch.setattr(tune_module.TrialReporter, "on_step_end", interrupt, raising=False)
    with pytest.raises(TrainingInterrupted, match="run the same command again") as stopped:
        run(config, out, tiny_model_dir, data, 2)
    assert stopped.value.exit_code == 130
    assert any((workdir_for(out / "trials" / "000") / "checkpoints").glob("step-*"))
    monkeypatch.delattr(tune_module.TrialReporter, "on_step_end")

    # again: trial 0 is re-run as trial 1 from its checkpoint, then trial 2
    run(config, out, tiny_model_dir, data, 2)
    tuned = summary(out)
    states = [(t["number"], t["state"], t.get("rerun_of")) for t in tuned["trials"]]
    assert states == [(0, "fail", None), (1, "complete", 0), (2, "complete", None)]
    resumed = json.loads((out / "trials" / "001" / "tunelab.json").read_text())["training"]
    assert resumed["resumed"] and resumed["resumed"][0]["step"] == 10
    assert tuned["trials"][1]["params"] == tuned["trials"][0]["params"]
    assert not workdir_for(out / "trials" / "000").exists()
    assert calls == [0, 1, 2]

    # a kill leaves a trial running: marked failed, queued again; then one more trial for 3 in all
    storage = f"sqlite:///{out / STUDY_FILE}"
    killed = optuna.load_study(study_name=STUDY_NAME, storage=storage).ask()
    killed.suggest_categorical(LR, [1e-2, 5e-3])
    before = {t["number"]: t["value"] for t in tuned["trials"]}
    run(config, out, tiny_model_dir, data, 3)
    tuned = summary(out)
    assert calls == [0, 1, 2, 4]  # only the re-run of the killed trial trained
    states = [(t["number"], t["state"], t.get("rerun_of")) for t in tuned["trials"]]
    assert states[3:] == [(3, "fail", None), (4, "complete", 3)]
    assert {t["number"]: t["value"] for t in tuned["trials"][:3]} == before
    assert tuned["counts"] == {"fail": 2, "complete": 3}

    # done: a fourth run with the same budget trains nothing
    run(config, out, tiny_model_dir, data, 3)
    assert calls == [0, 1, 2, 4]


# -- the search space and its errors (no training) -------------------------------------------------


def test_default_space_per_method():
    full = default_space(load_config(None, []))
    assert set(full) == {LR, "training.batch_size", "training.warmup_ratio", "training.weight_decay"}
    assert full[LR].log and (full[LR].low, full[LR].high) == (5e-5, 5e-4)
    assert full["training.batch_size"].choices == [16, 32]
    lora = default_space(load_config(None, ["method.name=lora"]))
    assert set(lora) == {"method.learning_rate", "method.r"}  # LoRA trains at its own rate
    rate = lora["method.learning_rate"]
    assert (rate.low, rate.high, rate.log) == (1e-4, 3e-2, True)
    assert lora["method.r"].choices == [8, 16, 32]
    assert set(default_space(load_config(None, ["method.name=ia3"]))) == {"method.learning_rate"}
    # full fine-tuning given a rate of its own searches that one
    assert LR not in default_space(load_config(None, ["method.learning_rate=1e-4"]))
    adalora = load_config(None, ["method.name=adalora"])
    assert default_space(adalora)["method.target_r"].choices == [8, 16, 32]
    # AdaLoRA starts from at least its target rank (peft's budget schedule needs it)
    search = resolve_search(adalora)
    overrides = trial_overrides(adalora, {"method.target_r": 32}, search)
    assert "method.init_r=48" in overrides


@pytest.mark.parametrize("value", [1e-05, 3e-4, 0.1, 1e20, 0.0, 16, True, "mean", ["query", "value"]])
def test_values_reach_the_config_as_they_were_sampled(value):
    assert parse_override(f"k={format_value(value)}")[1] == value


def test_an_unknown_space_key_exits_2_naming_it(tmp_path, monkeypatch, capsys):
    from tunelab.cli.app import main

    config = write_config(tmp_path / "tune.yaml", {"training.lerning_rate": {"low": 1e-5, "high": 1e-3}})
    monkeypatch.setattr("sys.argv", ["tunelab", "tune", str(config), "--trials", "2", "-o", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "training.lerning_rate" in err and "did you mean 'training.learning_rate'" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("space", "settings", "message"),
    [
        ({"training.batch_size": {"choices": [16, 0]}}, {}, "tune.space.training.batch_size: the value 0"),
        ({LR: {"low": 1e-3}}, {}, "tune.space.training.learning_rate"),
        ({LR: {"low": 0, "high": 1e-3, "log": True}}, {}, "log: true needs low > 0"),
        ({LR: {"low": 1e-5, "high": 1e-3}}, {"sampler": "grid"}, "grid needs choices"),
        ({"output.dir": {"choices": ["a"]}}, {}, "cannot be searched"),
        ({"method.r": {"choices": [8]}}, {}, "unknown config key 'method.r'"),  # not a key of full fine-tuning
        ({LR: {"choices": [1e-3]}}, {"metric": "bleu"}, "tune.metric 'bleu'"),
        ({LR: {"choices": [1e-3]}}, {"method": "lora"}, "search method.learning_rate instead"),  # LoRA ignores it
    ],
)
def test_bad_spaces_are_config_errors(tmp_path, space, settings, message):
    method = settings.pop("method", None)
    config = write_config(tmp_path / "tune.yaml", space, **settings)
    if method:
        config.write_text(config.read_text() + f"method: {method}\n")
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("'", ".")):
        tune(config, output_dir=tmp_path / "out", trials=2, console=QUIET)


def test_a_study_of_another_space_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    config = load_config(None, [])
    open_study(out, config, resolve_search(config), 3)
    other = load_config(None, ["tune.space={training.seed: {choices: [1, 2]}}"])
    with pytest.raises(ConfigError, match="another search"):
        open_study(out, other, resolve_search(other), 3)
    changed = load_config(None, ["training.epochs=9"])
    with pytest.raises(ConfigError, match="training.epochs"):
        open_study(out, changed, resolve_search(changed), 3)
    open_study(out, load_config(None, ["tune.trials=50"]), resolve_search(config), 50)  # more trials: fine


def test_an_artifact_is_not_a_study_directory(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "tunelab.json").write_text("{}")
    config = write_config(tmp_path / "tune.yaml", {LR: {"choices": [1e-3]}})
    with pytest.raises(ConfigError, match="is a trained artifact"):
        tune(config, output_dir=tmp_path / "model", trials=1, console=QUIET)


def test_the_tune_section_is_not_a_change_of_a_training_run():
    old = load_config(None, []).to_dict()
    old.pop("tune")  # run.json of a release without `tune`
    new = load_config(None, ["tune.trials=5", "tune.sampler=random"]).to_dict()
    assert compare({"config": old}, {"config": new}) == ([], [])
