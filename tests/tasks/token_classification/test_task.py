"""Token classification: alignment round trips (English words, Chinese characters, mixed runs,
windows), training a tiny model, entity offsets that slice the input, evaluation after reload."""

import json
from pathlib import Path

import pytest
from rich.console import Console
from transformers import AutoTokenizer

import tunelab
from helpers import (
    FIXTURES,
    VOCAB_ZH,
    build_tiny_bert,
    make_ner_sentences,
    perfect_items,
    tiny_overrides,
    write_conll,
)
from tunelab.config import load_config
from tunelab.data.batching import IGNORE_INDEX
from tunelab.tasks.token_classification.config import TokenClassificationConfig
from tunelab.tasks.token_classification.example import NerExample, Span
from tunelab.tasks.token_classification.readers import read_ner_file
from tunelab.tasks.token_classification.task import TokenClassificationTask
from tunelab.tasks.token_classification.words import split_words, to_words
from tunelab.workflow.evaluate import evaluate_artifact
from tunelab.workflow.train import train

QUIET = Console(file=open("/dev/null", "w"))


@pytest.fixture(scope="module")
def zh_model_dir(tmp_path_factory):
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-zh"), VOCAB_ZH)


def assert_round_trip(task, tokenizer, examples, max_length=128):
    encoded = task.encode(tokenizer, examples, max_length)
    predicted = task.entities(encoded, perfect_items(task, encoded))
    for example, seq, found in zip(examples, encoded.sequences, predicted):
        gold = example.entities()
        if example.text is None:  # token indices -> compare token ranges
            assert [(e["type"], e["token_start"], e["token_end"]) for e in found] == gold
        else:
            assert [(e["type"], e["start"], e["end"]) for e in found] == gold
        for entity in found:
            assert seq.text[entity["start"] : entity["end"]] == entity["text"]
    metrics = task.metrics(encoded, perfect_items(task, encoded))
    assert metrics["f1"] == pytest.approx(1.0) or metrics["num_entities"] == 0
    return encoded


def task_for(examples, **options):
    return TokenClassificationTask.from_examples(TokenClassificationConfig(**options), examples)


def test_round_trip_conll2003_iob1(tiny_model_dir):
    ner_file = read_ner_file(FIXTURES / "ner" / "conll2003_iob1.txt")
    assert ner_file.scheme == "iob1"
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    examples = ner_file.examples
    task = task_for(examples)
    assert task.labels[0] == "O" and "B-ORG" in task.labels
    encoded = assert_round_trip(task, tokenizer, examples)
    # the first sub-word of each word is labelled, the rest ignored
    first = encoded.labels[0]
    assert sum(label != IGNORE_INDEX for label in first) == len(examples[0].tokens)


def test_round_trip_with_all_subwords_labelled_and_windows(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    sentence = [(w, t) for s in make_ner_sentences(12, seed=3) for w, t in s]  # one long sentence
    example = NerExample(tokens=tuple(w for w, _ in sentence), tags=tuple(t for _, t in sentence))
    task = task_for([example], label_all_subwords=True, window_overlap=4)
    encoded = assert_round_trip(task, tokenizer, [example], max_length=16)
    assert encoded.num_windowed == 1 and len(encoded) > 4  # several overlapping windows, nothing cut
    covered = {w for words in encoded.item_word_ids for w in words if w is not None}
    assert covered == set(range(len(sentence)))


def test_round_trip_chinese_characters_and_mixed_runs(zh_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(zh_model_dir)
    text = "我在北京用iPhone12买了3台华为Mate60，花了12000元。"
    spans = tuple(
        Span(text.index(t), text.index(t) + len(t), k)
        for t, k in (("北京", "LOC"), ("iPhone", "PRODUCT"), ("华为Mate", "PRODUCT"), ("12000", "MONEY"))
    )
    examples = [NerExample((), None, text=text, spans=spans)]
    task = task_for(examples)
    assert_round_trip(task, tokenizer, examples)
    # WordPiece would merge "iPhone12": the entity boundary inside the run is kept
    words = to_words(examples[0]).words
    assert "iPhone" in words and "12" in words
    bmes = read_ner_file(FIXTURES / "ner" / "resume_bmes.char.bmes")
    assert bmes.scheme == "bmes"
    assert_round_trip(task_for(bmes.examples), tokenizer, bmes.examples)


def test_split_words():
    text = "Apple's CEO visited 北京 in 2024!"
    assert [text[s:e] for s, e in split_words(text)] == [
        "Apple",
        "'",
        "s",
        "CEO",
        "visited",
        "北",
        "京",
        "in",
        "2024",
        "!",
    ]
    assert [text[s:e] for s, e in split_words(text, [2])] == [
        "Ap",
        "ple",
        "'",
        "s",
        "CEO",
        "visited",
        "北",
        "京",
        "in",
        "2024",
        "!",
    ]


@pytest.fixture(scope="module")
def ner_artifact(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("ner")
    data = {
        "train": write_conll(root / "train.conll", make_ner_sentences(200, seed=1)),
        "dev": write_conll(root / "dev.conll", make_ner_sentences(40, seed=2)),
    }
    cfg = load_config(
        None,
        tiny_overrides(
            tiny_model_dir,
            data,
            **{
                "task.name": "token_classification",
                "training.epochs": 12,
                "training.metric": "f1",
            },
        ),
    )
    return train(cfg, output_dir=root / "model", console=QUIET), data


@pytest.mark.train
def test_tiny_ner_learns_and_reports(ner_artifact):
    result, _ = ner_artifact
    metrics = result.report["metrics"]
    assert metrics["f1"] > 0.8
    assert set(metrics["per_type"]) == {"LOC", "PER"}
    assert 0.0 <= metrics["token_accuracy"] <= 1.0
    meta = json.loads((result.output_dir / "tunelab.json").read_text())
    assert meta["task"]["state"]["entity_types"] == ["LOC", "PER"]
    config = json.loads((result.output_dir / "config.json").read_text())
    assert config["id2label"]["1"] == "B-LOC"


@pytest.mark.train
def test_evaluate_matches_report(ner_artifact, tmp_path):
    result, data = ner_artifact
    report = evaluate_artifact(result.output_dir, data["dev"], json_out=tmp_path / "e.json")
    assert report["metrics"] == result.report["metrics"]


@pytest.mark.train
def test_predicted_offsets_slice_raw_input(ner_artifact):
    result, _ = ner_artifact
    model = tunelab.load(result.output_dir)
    texts = ["i met  john in   paris today", "I saw Mary in Rome!", "nothing here"]
    predicted = model.predict(texts)
    assert len(predicted) == 3
    for text, entities in zip(texts, predicted):
        for entity in entities:
            assert text[entity["start"] : entity["end"]] == entity["text"]
            assert entity["type"] in {"PER", "LOC"} and 0 < entity["score"] <= 1
    assert {"text": "paris", "type": "LOC"}.items() <= next(e for e in predicted[0] if e["type"] == "LOC").items()
    pretokenised = model.predict(tokens=[["i", "met", "john", "in", "paris"]])
    loc = next(e for e in pretokenised[0] if e["type"] == "LOC")
    assert (loc["token_start"], loc["token_end"]) == (4, 5)


@pytest.mark.train
def test_chinese_model_trains_and_offsets_slice(zh_model_dir, tmp_path):
    rows = []
    for i in range(60):
        city = ["北京", "上海", "广州"][i % 3]
        rows.append({"text": f"我在{city}工作了{i}年", "entities": [{"start": 2, "end": 4, "type": "LOC"}]})
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    cfg = load_config(
        None,
        tiny_overrides(
            zh_model_dir,
            {"train": path, "dev": path},
            **{
                "task.name": "token_classification",
                "training.epochs": 6,
                "training.metric": "f1",
            },
        ),
    )
    result = train(cfg, output_dir=tmp_path / "model", console=QUIET)
    model = tunelab.load(result.output_dir)
    text = "他说我在上海工作了3年，iPhone很好"
    for entity in model.predict([text])[0]:
        assert text[entity["start"] : entity["end"]] == entity["text"]
    assert result.report["metrics"]["f1"] > 0.5


@pytest.mark.train
def test_cli_predict_and_evaluate_ner(ner_artifact, tmp_path):
    from typer.testing import CliRunner

    from tunelab.cli.app import app

    result, data = ner_artifact
    runner = CliRunner()
    out = runner.invoke(app, ["predict", str(result.output_dir), "i met john in paris", "--json"])
    assert out.exit_code == 0, out.output
    record = json.loads(out.output.strip().splitlines()[-1])
    assert record["text"] == "i met john in paris"
    assert all(record["text"][e["start"] : e["end"]] == e["text"] for e in record["entities"])
    out = runner.invoke(app, ["evaluate", str(result.output_dir), str(data["dev"])])
    assert out.exit_code == 0 and "PER" in out.output and "most frequent errors" in out.output
    pred = tmp_path / "p.jsonl"
    out = runner.invoke(app, ["predict", str(result.output_dir), "-i", str(data["dev"]), "-o", str(pred)])
    assert out.exit_code == 0, out.output
    lines = [json.loads(line) for line in pred.read_text().splitlines()]
    assert len(lines) == 40 and lines[0]["tokens"][0] == "i"


@pytest.mark.parametrize("name", ["train.conll", "dev.conll"])
def test_alignment_round_trip_on_the_whole_shipped_wnut17(tiny_model_dir, name):
    """Every gold entity of the shipped data survives encoding to sub-words and decoding back."""
    ner_file = read_ner_file(Path(__file__).parents[3] / "data" / "wnut17" / name)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)  # the MiniLM / bert-base-uncased vocabulary
    task = task_for(ner_file.examples)
    assert task.types == ["corporation", "creative-work", "group", "location", "person", "product"]
    encoded = assert_round_trip(task, tokenizer, ner_file.examples)
    assert len(encoded.sequences) == {"train.conll": 3394, "dev.conll": 1009}[name]


@pytest.mark.train
def test_wnut17_example_config_trains_on_conll2003_layout(tiny_model_dir, tmp_path):
    """examples/wnut17.yaml with only the data files changed reads a 4-column IOB1 corpus, trains,
    and `tunelab evaluate --json` scores it with the training-time numbers."""
    from typer.testing import CliRunner

    from tunelab.cli.app import app
    from tunelab.tasks.token_classification.tags import from_iob2

    def conll2003(path, sentences):
        blocks = ["-DOCSTART- -X- -X- O"]
        for sentence in sentences:
            tags = from_iob2([t for _, t in sentence], "iob1")
            blocks.append("\n".join(f"{w} NN I-NP {t}" for (w, _), t in zip(sentence, tags)))
        path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
        return path

    adjacent = [[("john", "B-PER"), ("mary", "B-PER"), ("met", "O")]]  # IOB1 marks the second with B-
    train_file = conll2003(tmp_path / "eng.train", make_ner_sentences(200, seed=5) + adjacent)
    dev_file = conll2003(tmp_path / "eng.testa", make_ner_sentences(40, seed=6))
    assert read_ner_file(train_file).scheme == "iob1"  # format from the content: no telling extension
    config = Path(__file__).parents[3] / "examples" / "wnut17.yaml"
    runner = CliRunner()
    out = runner.invoke(
        app,
        [
            "train",
            str(config),
            "-o",
            str(tmp_path / "model"),
            "--set",
            f"data.train={train_file}",
            "--set",
            f"data.dev={dev_file}",
            # the tiny test model instead of MiniLM, and a short run:
            "--set",
            f"model.name={tiny_model_dir}",
            "--set",
            "training.epochs=10",
            "--set",
            "training.learning_rate=3e-3",
            "--set",
            "training.tensorboard=false",
        ],
    )
    assert out.exit_code == 0, out.output
    report = json.loads((tmp_path / "model" / "report.json").read_text())
    assert report["metrics"]["f1"] > 0.8
    out = runner.invoke(app, ["evaluate", str(tmp_path / "model"), str(dev_file), "--json", str(tmp_path / "e.json")])
    assert out.exit_code == 0, out.output
    assert json.loads((tmp_path / "e.json").read_text())["metrics"] == report["metrics"]
