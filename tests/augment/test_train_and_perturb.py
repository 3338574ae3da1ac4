"""End to end on tiny models: a training run with `augment:` records what it added and is
reproducible; `tunelab evaluate --perturb` prints and writes clean and perturbed metrics side
by side, and refuses bad perturbations with exit 2."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from helpers import make_ner_sentences, make_texts, tiny_overrides, write_conll, write_csv
from tunelab.cli.app import app, main
from tunelab.config import load_config
from tunelab.workflow.train import train

pytestmark = pytest.mark.train
runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("augment-data")
    return {
        "train": write_csv(root / "train.csv", make_texts(60, seed=1)),
        "dev": write_csv(root / "dev.csv", make_texts(30, seed=2)),
    }


def _train(model_dir, data, out, **extra):
    values = {"training.epochs": 3, "augment.ops": "eda,typos", "training.seed": 5, **extra}
    config = load_config(overrides=tiny_overrides(model_dir, data, **values))
    from rich.console import Console

    console = Console(record=True, width=200)
    result = train(config, output_dir=out, console=console)
    return result, console.export_text()


@pytest.fixture(scope="module")
def trained(tiny_model_dir, data, tmp_path_factory):
    out = tmp_path_factory.mktemp("augment-runs") / "model"
    return _train(tiny_model_dir, data, out)


def test_training_records_the_augmented_examples(trained):
    result, printed = trained
    meta = json.loads((result.output_dir / "tunelab.json").read_text())
    added = meta["data"]["augmented"]
    assert set(added) == {"eda", "typos"} and 50 <= added["eda"] <= 60 and added["typos"] == 60
    assert meta["data"]["counts"]["train"] == 60  # the originals; the copies are counted in data.augmented
    assert meta["config"]["augment"] == {"ops": ["eda", "typos"], "copies": 1, "p": 0.1, "language": "auto"}
    total = added["eda"] + added["typos"]
    assert f"augment: +{total} examples (eda {added['eda']}, typos 60), language en" in printed
    steps = meta["training"]["steps"]
    assert steps == 3 * -(-(60 + total) // 16)  # the loop trained on originals and copies


def test_augmented_training_is_reproducible(trained, tiny_model_dir, data, tmp_path):
    first, _ = trained
    again, _ = _train(tiny_model_dir, data, tmp_path / "again")
    a = json.loads((first.output_dir / "tunelab.json").read_text())
    b = json.loads((again.output_dir / "tunelab.json").read_text())
    assert a["data"]["augmented"] == b["data"]["augmented"]
    assert a["metrics"] == b["metrics"]
    assert [h.get("loss") for h in a["training"]["history"]] == [h.get("loss") for h in b["training"]["history"]]


def test_evaluate_perturb_prints_and_writes_the_table(trained, data, tmp_path):
    result, _ = trained
    model = str(result.output_dir)
    plain = runner.invoke(app, ["evaluate", model, str(data["dev"]), "--json", str(tmp_path / "plain.json")])
    assert plain.exit_code == 0, plain.output
    args = ["evaluate", model, str(data["dev"]), "--perturb", "typos,case,punctuation", "--perturb-seed", "3"]
    out = runner.invoke(app, [*args, "--json", str(tmp_path / "robust.json")])
    assert out.exit_code == 0, out.output
    assert "robustness" in out.output and all(row in out.output for row in ("clean", "typos", "punctuation", "all"))
    report = json.loads((tmp_path / "robust.json").read_text())
    clean = json.loads((tmp_path / "plain.json").read_text())["metrics"]
    assert report["metrics"] == clean
    robust = report["robustness"]
    assert list(robust["metrics"]) == ["clean", "typos", "case", "punctuation", "all"]
    assert robust["metrics"]["clean"] == clean and robust["seed"] == 3 and robust["p"] == 0.1
    assert robust["columns"][0] == "accuracy" and set(robust["changed"]) == {"typos", "case", "punctuation", "all"}
    assert all(0.9 <= share <= 1.0 for share in robust["changed"].values())
    for row in ("typos", "case", "punctuation", "all"):
        for metric in robust["columns"]:
            expected = clean[metric] - robust["metrics"][row][metric]
            assert robust["drop"][row][metric] == pytest.approx(expected)
    again = runner.invoke(app, [*args, "--json", str(tmp_path / "again.json")])
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "again.json").read_text())["robustness"]["metrics"] == robust["metrics"]


def invoke_main(monkeypatch, capsys, *args):
    monkeypatch.setattr("sys.argv", ["tunelab", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code, capsys.readouterr()


def test_bad_perturbations_exit_2(trained, data, monkeypatch, capsys):
    model = str(trained[0].output_dir)
    code, out = invoke_main(monkeypatch, capsys, "evaluate", model, str(data["dev"]), "--perturb", "typo,case")
    assert code == 2 and "--perturb: unknown name typo (did you mean 'typos'?)" in out.err and "punctuation" in out.err
    code, out = invoke_main(monkeypatch, capsys, "evaluate", model, str(data["dev"]), "--perturb", "mention_replace")
    assert code == 2 and "unknown name mention_replace" in out.err
    code, out = invoke_main(
        monkeypatch, capsys, "evaluate", model, str(data["dev"]), "--perturb", "typos", "--perturb-p", "0"
    )
    assert code == 2 and "--perturb-p must be in (0, 1]" in out.err


def test_ner_trains_with_span_augmentation_and_is_perturbed_in_place(tiny_model_dir, tmp_path, monkeypatch, capsys):
    files = {
        "train": write_conll(tmp_path / "train.conll", make_ner_sentences(40, seed=1)),
        "dev": write_conll(tmp_path / "dev.conll", make_ner_sentences(15, seed=2)),
    }
    extra = {"task.name": "token_classification", "augment.ops": "mention_replace,token_replace", "augment.p": 0.3}
    result, printed = _train(tiny_model_dir, files, tmp_path / "ner", **{"training.epochs": 2, **extra})
    meta = json.loads((result.output_dir / "tunelab.json").read_text())
    assert meta["data"]["augmented"]["mention_replace"] >= 30 and meta["data"]["augmented"]["token_replace"] >= 30
    out = runner.invoke(
        app,
        [
            "evaluate",
            str(result.output_dir),
            str(files["dev"]),
            "--perturb",
            "typos,case",
            "--json",
            str(tmp_path / "r.json"),
        ],
    )
    assert out.exit_code == 0, out.output
    robust = json.loads((tmp_path / "r.json").read_text())["robustness"]
    assert list(robust["metrics"]) == ["clean", "typos", "case", "all"] and robust["columns"][0] == "f1"
    code, err = invoke_main(
        monkeypatch, capsys, "evaluate", str(result.output_dir), str(files["dev"]), "--perturb", "swap"
    )
    assert code == 2 and "only typos, case, punctuation apply" in err.err
