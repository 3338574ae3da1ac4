"""The run configuration: one pydantic model per pipeline stage, loaded from YAML plus dotted overrides.

Every section forbids unknown keys, so a typo is an error that names the key and lists the valid
ones instead of being silently ignored.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    create_model,
    field_validator,
)

from tunelab.config_augment import AugmentConfig  # noqa: F401  (re-exported)
from tunelab.config_base import Section
from tunelab.config_methods import (  # noqa: F401  (re-exported: tunelab.config is where callers look)
    METHOD_CONFIG_ADAPTER,
    METHOD_CONFIGS,
    AdaLoraMethodConfig,
    AdapterMethodConfig,
    FrozenMethodConfig,
    FullMethodConfig,
    Ia3MethodConfig,
    LoraMethodConfig,
    MethodConfig,
    PrefixTuningMethodConfig,
    PromptTuningMethodConfig,
    PTuningMethodConfig,
    parse_method_config,
)
from tunelab.config_training import (  # noqa: F401  (re-exported)
    TRACKERS,
    CheckpointConfig,
    EarlyStoppingConfig,
    TrackerName,
    TrackingConfig,
    TrainingConfig,
)
from tunelab.config_tune import TuneConfig
from tunelab.errors import ConfigError


class ModelConfig(Section):
    name: str = Field(
        "minilm",
        description="A local model directory, a packaged offline model (minilm) or a hub id.",
    )
    allow_download: bool = Field(
        False, description="Allow fetching a hub id from the network. Off by default: tunelab runs offline."
    )
    revision: str | None = Field(None, description="Hub revision, only used with allow_download.")
    max_length: int = Field(128, ge=8, le=8192, description="Tokens per text (pair) after truncation.")
    dropout: float | None = Field(
        None, ge=0.0, lt=1.0, description="Override the backbone's hidden and attention dropout."
    )
    classifier_dropout: float | None = Field(None, ge=0.0, lt=1.0, description="Dropout before the head.")
    config_overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="Attributes of the backbone's config set when it is loaded, e.g. "
        "{use_bidirectional_attention: true} for Gemma 3 (every token attends to the whole input); "
        "each must be an attribute the model's config has. Kept in the artifact's config.json.",
    )
    head: Literal["auto", "transformers", "tunelab"] = Field(
        "auto",
        description="auto: transformers' task class when the architecture has one, else tunelab's generic head "
        "(any AutoModel: encoders and decoders); transformers or tunelab: that one.",
    )
    pooling: Literal["auto", "cls", "mean", "last"] = Field(
        "auto",
        description="Text classification with tunelab's head: first token, mean, or last non-padding token; "
        "auto: last for decoder-only models, first for encoders. A value other than the architecture's own "
        "selects tunelab's head.",
    )


class SplitConfig(Section):
    dev: float = Field(0.1, ge=0.0, lt=1.0, description="Share of train carved out as dev when no dev file.")
    test: float = Field(0.0, ge=0.0, lt=1.0, description="Share of train carved out as test when no test file.")
    seed: int = Field(13, description="Seed of the stratified split; independent of training.seed.")


class DataConfig(Section):
    """The data keys every task shares. A task adds its own keys (columns, tag scheme, ...) in a
    subclass named by its spec (``tunelab.tasks``), so a key of another task is an error."""

    train: Path | None = Field(None, description="Training file.")
    dev: Path | None = Field(None, description="Dev file; carved from train when absent.")
    test: Path | None = Field(None, description="Test file; optional.")
    format: Literal["auto", "csv", "tsv", "jsonl"] = "auto"
    encoding: str | dict[str, str] = Field(
        "utf-8",
        description="Codec of the files (a Python codec name: utf-8, gb18030, latin-1, ...), or one per split "
        "({train: gb18030, dev: utf-8}; a split not named is utf-8).",
    )
    delimiter: str = Field(
        "auto",
        description="CSV field separator: one character, or auto: the one of , ; tab | whose field counts are "
        "consistent over the first rows (a .tsv file is always tab-separated).",
    )
    mask_pii: bool | list[str] = Field(
        False,
        description="Mask personal data in every text before use: true for all types, or a list of "
        "email, phone, card, account, cn_id, ip; each item becomes a placeholder such as <PHONE>.",
    )
    split: SplitConfig = Field(default_factory=SplitConfig)

    @field_validator("encoding", mode="before")
    @classmethod
    def _encoding_per_split(cls, value: Any) -> Any:
        if isinstance(value, dict):
            unknown = [str(key) for key in value if key not in ("train", "dev", "test")]
            if unknown:
                raise ValueError(f"unknown split {unknown[0]!r}; name train, dev or test")
        return value

    @field_validator("delimiter", mode="before")
    @classmethod
    def _one_character(cls, value: Any) -> Any:
        from tunelab.data.delimiters import normal_delimiter

        return normal_delimiter(value)

    @field_validator("mask_pii", mode="before")
    @classmethod
    def _pii_types(cls, value: Any) -> Any:
        from tunelab.data.pii import resolve_entities

        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if isinstance(value, str):
            value = [part for part in value.replace(",", " ").split() if part]
        if isinstance(value, (list, tuple)):
            return list(resolve_entities(value))
        return value


class TextDataConfig(DataConfig):
    """Data of the tasks that read a text (and optional text pair) plus a target per row of a
    CSV/TSV/JSONL table: classification, regression."""

    header: Literal["auto", "yes", "no"] = Field(
        "auto",
        description="CSV/TSV: is the first row a header? yes; no: every row is data, columns are named by "
        'position ("0", "1", ...), the text column is the one with the longest values and the label column the '
        "other one with the fewest distinct values (a pair column only when named); auto: a header when the first "
        "row names a known (text, label, ...) or configured column, no header when the first row is clearly data "
        "(its label also occurs further down, or is a label of train), else a header. "
        "YAML's bare yes/no/true/false work. JSONL files ignore it.",
    )
    text_column: str | None = Field(
        None, description='Detected when absent (text, sentence, content, ...); a position ("0") without a header.'
    )
    text_pair_column: str | None = Field(None, description="Second text of a sentence pair; optional.")
    label_column: str | None = Field(
        None, description='Detected when absent (label, category, intent, ...); a position ("1") without a header.'
    )

    @field_validator("header", mode="before")
    @classmethod
    def _header_words(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare `header: no` as False and `yes` as True.
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return "yes" if value.strip().lower() == "true" else "no"
        return value

    @field_validator("text_column", "text_pair_column", "label_column", mode="before")
    @classmethod
    def _position_as_name(cls, value: Any) -> Any:
        # `text_column: 0` in YAML is an int; columns of a file without a header are named "0", "1", ...
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value


class TaskSection(Section):
    """The base of every task's config section; ``name`` selects the task."""

    name: str


class CardConfig(Section):
    """What the model card (the artifact's README.md) says that tunelab cannot tell from the files."""

    language: list[str] | None = Field(
        None, description="Languages of the model's texts (ISO 639-1 codes, e.g. [en]); default: the base model's."
    )
    datasets: list[str] = Field(
        default_factory=list,
        description="Hub ids of the training data (the card's `datasets`); default: only shipped data "
        "tunelab recognises by its sha256.",
    )
    dataset_name: str | None = Field(None, description="The data's name in the card; default: from its file names.")
    data_license: str | None = Field(
        None, description="Licence of the training data (a Hub licence id such as cc-by-4.0, or words)."
    )

    @field_validator("language", "datasets", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class OutputConfig(Section):
    dir: Path = Field(Path("runs/model"), description="Artifact directory; -o on the command line overrides it.")
    overwrite: bool = False
    keep_checkpoints: bool = False
    plots: bool = Field(
        True,
        description="Write the PNG plots (and embed them in report.html); false saves about a second a run, "
        "for sweeps of many quick runs.",
    )
    card: CardConfig = Field(default_factory=CardConfig)


class TunelabConfig(Section):
    """The whole run. ``task`` and ``data`` are the selected task's own section classes (see
    :func:`config_class`): ``TunelabConfig`` itself holds text classification's, the default."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    task: TaskSection
    method: MethodConfig = Field(default_factory=FullMethodConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    tune: TuneConfig = Field(default_factory=TuneConfig)  # `tunelab tune` only (tunelab.config_tune)

    @field_validator("model", mode="before")
    @classmethod
    def _model_shorthand(cls, value: Any) -> Any:
        # `model: minilm` is the natural way to write it; treat it as `model: {name: minilm}`.
        if isinstance(value, (str, Path)):
            return {"name": str(value)}
        return value

    @field_validator("method", mode="before")
    @classmethod
    def _default_method_name(cls, value: Any) -> Any:
        if isinstance(value, str):  # `method: lora`
            return {"name": value}
        if isinstance(value, dict) and "name" not in value:
            return {"name": "full", **value}
        return value

    def to_dict(self) -> dict[str, Any]:
        return json.loads(self.model_dump_json())


DEFAULT_TASK = "text_classification"
_CONFIG_CLASSES: dict[str, type[TunelabConfig]] = {}


def task_sections(name: str) -> tuple[type[TaskSection], type[DataConfig]]:
    """The task's config section and data section classes, from its spec (unknown names list the known ones)."""
    from tunelab.tasks import task_spec

    spec = task_spec(name)
    return spec.config, spec.data


def config_class(task_name: str) -> type[TunelabConfig]:
    """``TunelabConfig`` with the ``task`` and ``data`` sections of one task, built once per task."""
    if task_name not in _CONFIG_CLASSES:
        task_cls, data_cls = task_sections(task_name)
        _CONFIG_CLASSES[task_name] = create_model(
            f"TunelabConfig[{task_name}]",
            __base__=TunelabConfig,
            task=(task_cls, Field(default_factory=task_cls)),
            data=(data_cls, Field(default_factory=data_cls)),
        )
    return _CONFIG_CLASSES[task_name]


def parse_task_config(data: dict[str, Any]) -> TaskSection:
    """A task section from its dict (an artifact's ``tunelab.json``); ``name`` picks the task."""
    name = data.get("name") or DEFAULT_TASK
    return task_sections(name)[0].model_validate({**data, "name": name})


def validate_config(raw: dict[str, Any], source: str = "config") -> TunelabConfig:
    """The config of ``raw``'s task (``task.name``, text classification when absent); errors name the bad key."""
    task = raw.get("task")
    if isinstance(task, str):  # `task: token_classification`
        task = raw["task"] = {"name": task}
    name = task.get("name") if isinstance(task, dict) else None
    cls = config_class(name or DEFAULT_TASK)
    try:
        return cls.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, source, cls)) from None


def parse_data_config(task_name: str, data: dict[str, Any]) -> DataConfig:
    return task_sections(task_name)[1].model_validate(data)


def _section_fields(root: type[BaseModel], path: tuple[Any, ...]) -> list[str]:
    """Valid keys at a location of the config tree, for error messages."""
    model: type[BaseModel] = root
    for part in path:
        if model is root and part == "method":
            model = TunelabConfig  # a union; its tag follows in the path
            continue
        if model is TunelabConfig and part in METHOD_CONFIGS:
            model = METHOD_CONFIGS[part]
            continue
        field = model.model_fields.get(str(part)) if isinstance(part, str) else None
        annotation = field.annotation if field is not None else None
        optional = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(optional) == 1:  # a section that may be null (task.zero_shot)
            annotation = optional[0]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            break
    return list(model.model_fields) if isinstance(model, type) else []


def _format_validation_error(err: ValidationError, source: str, root: type[BaseModel]) -> str:
    lines = [f"invalid configuration ({source}):"]
    for item in err.errors():
        loc = tuple(item["loc"])
        # pydantic puts the union tag in the location (method.lora.x); users wrote method.x
        shown = tuple(p for i, p in enumerate(loc) if not (i == 1 and loc[0] == "method" and p in METHOD_CONFIGS))
        dotted = ".".join(str(p) for p in shown) or "(top level)"
        if item["type"] == "extra_forbidden":
            valid = _section_fields(root, loc[:-1])
            guess = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            hint = f" Did you mean '{guess[0]}'?" if guess else ""
            lines.append(f"  - unknown key '{dotted}'.{hint} Valid keys here: {', '.join(valid)}")
        else:
            lines.append(f"  - {dotted}: {item['msg']} (got {item.get('input')!r})")
    return "\n".join(lines)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into its key path and a YAML-parsed value."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like key.path=value, e.g. training.epochs=3")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override '{text}' has an empty key; write it as key.path=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override '{text}': value is not valid YAML: {exc}") from exc
    return key.split("."), value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for text in overrides:
        path, value = parse_override(text)
        node = raw
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override '{text}': '{part}' is a value, not a section")
            node = child
        node[path[-1]] = value
    return raw


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TunelabConfig:
    """Read a YAML config (or start from defaults), apply ``key=value`` overrides, validate.

    Relative data paths are resolved against the config file's directory, so a config can be run
    from anywhere.
    """
    raw: dict[str, Any] = {}
    source = "defaults"
    base_dir = Path.cwd()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections (model, data, ...)")
        raw = loaded or {}
        source = str(path)
        base_dir = path.resolve().parent
    if isinstance(raw.get("model"), str):
        raw["model"] = {"name": raw["model"]}
    file_data = dict(raw.get("data") or {})
    raw = apply_overrides(raw, list(overrides or []))
    config = validate_config(raw, source)
    # Paths written in the file are relative to the file; paths given as overrides to the cwd.
    data = config.data
    for split in ("train", "dev", "test", "unlabelled"):  # unlabelled: text classification's self-training texts
        value = getattr(data, split, None)
        if value is not None and not value.is_absolute() and split in file_data and str(file_data[split]) == str(value):
            setattr(data, split, (base_dir / value).resolve())
    return config


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``: dotted config keys (as ``--set`` takes them); lists,
    scalars and empty sections are leaves."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat
