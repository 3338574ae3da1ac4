from pathlib import Path

import pytest
import yaml

from tunelab.cli.init import starter_config
from tunelab.config import load_config, parse_override, validate_config
from tunelab.errors import ConfigError
from tunelab.tasks import task_spec


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file():
    cfg = load_config()
    assert cfg.model.name == "minilm"
    assert cfg.task.name == "text_classification"
    assert cfg.training.precision == "auto"


def test_unknown_top_level_key_names_it_and_lists_valid(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "trainng:\n  epochs: 3\n"))
    msg = str(err.value)
    assert "unknown key 'trainng'" in msg
    assert "Did you mean 'training'" in msg
    for key in ("model", "data", "task", "training", "output"):
        assert key in msg


def test_unknown_nested_key_lists_that_sections_keys(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "training:\n  epoch: 3\n"))
    msg = str(err.value)
    assert "unknown key 'training.epoch'" in msg
    assert "Did you mean 'epochs'" in msg
    assert "learning_rate" in msg and "gradient_accumulation_steps" in msg


def test_bad_value_names_the_field(tmp_path):
    with pytest.raises(ConfigError, match=r"training\.batch_size"):
        load_config(write(tmp_path, "training:\n  batch_size: 0\n"))
    with pytest.raises(ConfigError, match=r"training\.precision"):
        load_config(None, ["training.precision=fp16"])


def test_overrides_are_typed_and_nested(tmp_path):
    cfg = load_config(
        write(tmp_path, "training:\n  epochs: 3\n"),
        [
            "training.epochs=1.5",
            "training.early_stopping.patience=null",
            "model.name=/x/y",
            "task.multi_label=true",
        ],
    )
    assert cfg.training.epochs == 1.5
    assert cfg.training.early_stopping.patience is None
    assert cfg.model.name == "/x/y"
    assert cfg.task.multi_label is True


def test_override_of_unknown_key_is_an_error():
    with pytest.raises(ConfigError, match="unknown key 'training.learning_rat'"):
        load_config(None, ["training.learning_rat=1e-3"])


@pytest.mark.parametrize("bad", ["training.epochs", "=3", "training..epochs=3"])
def test_malformed_override(bad):
    with pytest.raises(ConfigError):
        parse_override(bad)


def test_override_into_a_value_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="'epochs' is a value, not a section"):
        load_config(write(tmp_path, "training:\n  epochs: 3\n"), ["training.epochs.x=1"])
    with pytest.raises(ConfigError, match=r"training\.epochs"):
        load_config(None, ["training.epochs.x=1"])


def test_model_shorthand_and_relative_paths(tmp_path):
    (tmp_path / "d").mkdir()
    cfg = load_config(write(tmp_path, "model: /some/model\ndata:\n  train: d/train.csv\n"), ["data.dev=dev.csv"])
    assert cfg.model.name == "/some/model"
    # paths in the file are relative to the file; paths on the command line to the cwd
    assert cfg.data.train == (tmp_path / "d" / "train.csv").resolve()
    assert cfg.data.dev == Path("dev.csv")


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "training: [\n"))
    with pytest.raises(ConfigError, match="mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))


def test_class_weights_must_name_known_labels():
    with pytest.raises(ConfigError, match="unknown labels"):
        load_config(None, ["task.labels=[a, b]", "task.class_weights={c: 2.0}"])


def test_starter_config_is_valid_and_commented():
    text = starter_config("classification")
    assert text.count("#") > 10
    cfg = validate_config(yaml.safe_load(text))
    assert cfg.task.name == "text_classification"
    with pytest.raises(ConfigError, match="known: classification"):
        starter_config("nonsense")
    ner = validate_config(yaml.safe_load(starter_config("ner")))
    assert ner.task.name == "token_classification" and ner.training.metric == "f1"


def test_task_options_are_checked_per_task():
    with pytest.raises(ConfigError, match="unknown key 'task.multi_label'.*window_overlap"):
        load_config(None, ["task.name=token_classification", "task.multi_label=true"])
    with pytest.raises(
        ConfigError, match="unknown task 'ner'; known: extractive_qa, relation_extraction, text_classification"
    ):
        load_config(None, ["task.name=ner"])
    with pytest.raises(ConfigError, match="unknown key 'data.tag_scheme'"):
        load_config(None, ["data.tag_scheme=bio"])  # another task's data key is an error, not ignored
    with pytest.raises(ConfigError, match="unknown key 'data.label_separator'"):
        load_config(None, ["task.name=token_classification", "data.label_separator=;"])


def test_unknown_task_lists_known_ones():
    known = "extractive_qa, relation_extraction, text_classification, text_regression, token_classification"
    with pytest.raises(ConfigError, match=f"unknown task 'ner'.*{known}"):
        task_spec("ner")


@pytest.mark.parametrize("name", ["banking77.yaml", "wnut17.yaml", "semeval.yaml", "squad.yaml"])
def test_shipped_example_configs_are_valid(name):
    cfg = load_config(Path(__file__).parents[1] / "examples" / name)
    assert cfg.data.train.is_file() and cfg.data.dev.is_file()
