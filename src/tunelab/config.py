"""The run configuration: one pydantic model per pipeline stage, loaded from YAML plus dotted overrides.

Every section forbids unknown keys, so a typo is an error that names the key and lists the valid
ones instead of being silently ignored.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from tunelab.errors import ConfigError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


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
    train: Path | None = Field(None, description="Training file (CSV, TSV or JSONL).")
    dev: Path | None = Field(None, description="Dev file; carved from train when absent.")
    test: Path | None = Field(None, description="Test file; optional.")
    format: Literal["auto", "csv", "tsv", "jsonl", "conll", "cluener"] = "auto"
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
    label_separator: str = Field("|", description="Separates labels in one field for multi-label CSV/TSV.")
    encoding: str = "utf-8"
    token_column: int = Field(0, description="Token classification: column of the token in CoNLL files.")
    tag_column: int = Field(-1, description="Token classification: column of the tag in CoNLL files (-1: last).")
    tag_scheme: Literal["auto", "io", "iob1", "iob2", "bioes", "bilou", "bmes"] = Field(
        "auto", description="Token classification: tag scheme of the files; detected when auto."
    )
    repair_tags: bool = Field(False, description="Token classification: repair invalid tag sequences instead of failing.")
    split: SplitConfig = Field(default_factory=SplitConfig)

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


class TextClassificationConfig(Section):
    name: Literal["text_classification"] = "text_classification"
    multi_label: bool = False
    labels: list[str] | None = Field(None, description="Explicit label order; detected from train when absent.")
    class_weights: Literal["balanced"] | dict[str, float] | None = None
    threshold: float = Field(0.5, gt=0.0, lt=1.0, description="Multi-label decision threshold.")


class TokenClassificationConfig(Section):
    name: Literal["token_classification"] = "token_classification"
    entity_types: list[str] | None = Field(None, description="Explicit entity types; detected from train when absent.")
    label_all_subwords: bool = Field(False, description="Train on every sub-word, not only a word's first.")
    window_overlap: int = Field(32, ge=0, description="Sub-words shared by consecutive windows of a long sentence.")
    class_weights: Literal["balanced"] | dict[str, float] | None = None


# One config class per task, chosen by `task.name` (pydantic discriminated union), so each task
# only accepts its own options and a typo is still an error.
TaskConfig = Annotated[Union[TextClassificationConfig, TokenClassificationConfig], Field(discriminator="name")]
TASK_CONFIG_ADAPTER: TypeAdapter = TypeAdapter(TaskConfig)


def parse_task_config(data: dict[str, Any]) -> TextClassificationConfig | TokenClassificationConfig:
    return TASK_CONFIG_ADAPTER.validate_python({"name": "text_classification", **data})


class FullMethodConfig(Section):
    name: Literal["full"] = "full"


class FrozenMethodConfig(Section):
    name: Literal["frozen"] = "frozen"
    train_top_layers: int = Field(0, ge=0, description="Also train the top N transformer layers.")
    merge: bool = Field(False, description="Save a full plain model instead of the trained weights only.")


class LoraMethodConfig(Section):
    name: Literal["lora"] = "lora"
    r: int = Field(8, ge=1)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    target_modules: list[str] | None = Field(None, description="Default: peft's choice for the architecture.")
    bias: Literal["none", "all", "lora_only"] = "none"
    merge: bool = Field(False, description="Merge the adapter into a plain model when saving.")


class AdaLoraMethodConfig(Section):
    name: Literal["adalora"] = "adalora"
    init_r: int = Field(12, ge=1, description="Rank each adapted matrix starts with.")
    target_r: int = Field(8, ge=1, description="Average rank the budget is pruned to.")
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    target_modules: list[str] | None = None
    tinit: float = Field(0.1, ge=0, lt=1, description="Share of steps before pruning starts.")
    tfinal: float = Field(0.2, ge=0, lt=1, description="Share of final steps with the budget fixed.")
    delta_t: int = Field(10, ge=1, description="Steps between budget reallocations.")
    beta1: float = 0.85
    beta2: float = 0.85
    orth_reg_weight: float = Field(0.5, ge=0)
    merge: bool = False


class Ia3MethodConfig(Section):
    name: Literal["ia3"] = "ia3"
    target_modules: list[str] | None = None
    feedforward_modules: list[str] | None = None
    merge: bool = False


class PrefixTuningMethodConfig(Section):
    name: Literal["prefix_tuning"] = "prefix_tuning"
    num_virtual_tokens: int = Field(20, ge=1)
    prefix_projection: bool = False
    encoder_hidden_size: int | None = Field(None, ge=1)


class PromptTuningMethodConfig(Section):
    name: Literal["prompt_tuning"] = "prompt_tuning"
    num_virtual_tokens: int = Field(20, ge=1)
    init_text: str | None = Field(None, description="Initialise the soft prompt from this text's embeddings.")


class PTuningMethodConfig(Section):
    name: Literal["p_tuning"] = "p_tuning"
    num_virtual_tokens: int = Field(20, ge=1)
    encoder_hidden_size: int = Field(128, ge=1)
    encoder_type: Literal["MLP", "LSTM"] = "MLP"


class AdapterMethodConfig(Section):
    name: Literal["adapter"] = "adapter"
    style: Literal["pfeiffer", "houlsby"] = Field(
        "pfeiffer", description="pfeiffer: one adapter after each layer's feed-forward; houlsby: also after attention."
    )
    reduction_factor: int = Field(16, ge=1, description="Hidden size / adapter bottleneck size.")
    non_linearity: Literal["relu", "gelu", "tanh"] = "relu"


MethodConfig = Annotated[
    Union[
        FullMethodConfig, FrozenMethodConfig, LoraMethodConfig, AdaLoraMethodConfig, Ia3MethodConfig,
        PrefixTuningMethodConfig, PromptTuningMethodConfig, PTuningMethodConfig, AdapterMethodConfig,
    ],
    Field(discriminator="name"),
]
METHOD_CONFIGS: dict[str, type[BaseModel]] = {
    cls.model_fields["name"].default: cls
    for cls in (FullMethodConfig, FrozenMethodConfig, LoraMethodConfig, AdaLoraMethodConfig, Ia3MethodConfig,
                PrefixTuningMethodConfig, PromptTuningMethodConfig, PTuningMethodConfig, AdapterMethodConfig)
}
METHOD_CONFIG_ADAPTER: TypeAdapter = TypeAdapter(MethodConfig)


def parse_method_config(data: dict[str, Any] | None):
    return METHOD_CONFIG_ADAPTER.validate_python({"name": "full", **(data or {})})


class EarlyStoppingConfig(Section):
    patience: int | None = Field(3, ge=1, description="Evaluations without improvement before stopping; null disables.")
    min_delta: float = Field(0.0, ge=0.0)


class TrainingConfig(Section):
    epochs: float = Field(5, gt=0)
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int = Field(64, ge=1)
    learning_rate: float = Field(1e-4, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.06, ge=0, lt=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    max_grad_norm: float | None = Field(1.0, gt=0)
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    seed: int = 42
    eval_steps: int | None = Field(None, ge=1, description="Evaluate every N optimizer steps; null: each epoch.")
    metric: str | None = Field(
        None, description="Dev metric that picks the best checkpoint and drives early stopping; default: the task's "
        "(accuracy for classification, f1 for token classification)."
    )
    early_stopping: EarlyStoppingConfig = Field(default_factory=EarlyStoppingConfig)
    length_buckets: bool = Field(True, description="Batch texts of similar length together (less padding).")
    log_every: int = Field(20, ge=1, description="Optimizer steps between loss log lines.")
    num_threads: int | None = Field(None, ge=1, description="torch intra-op threads; default: torch's choice.")
    gradient_checkpointing: bool = Field(
        False, description="Recompute each layer's activations in the backward pass instead of keeping them: "
        "much less memory for long texts and large models, about a third more compute."
    )
    tensorboard: bool = True


class OutputConfig(Section):
    dir: Path = Field(Path("runs/model"), description="Artifact directory; -o on the command line overrides it.")
    overwrite: bool = False
    keep_checkpoints: bool = False


class TunelabConfig(Section):
    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    task: TaskConfig = Field(default_factory=TextClassificationConfig)
    method: MethodConfig = Field(default_factory=FullMethodConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @field_validator("model", mode="before")
    @classmethod
    def _model_shorthand(cls, value: Any) -> Any:
        # `model: minilm` is the natural way to write it; treat it as `model: {name: minilm}`.
        if isinstance(value, (str, Path)):
            return {"name": str(value)}
        return value

    @field_validator("task", mode="before")
    @classmethod
    def _default_task_name(cls, value: Any) -> Any:
        if isinstance(value, dict) and "name" not in value:
            return {"name": "text_classification", **value}
        return value

    @field_validator("method", mode="before")
    @classmethod
    def _default_method_name(cls, value: Any) -> Any:
        if isinstance(value, str):  # `method: lora`
            return {"name": value}
        if isinstance(value, dict) and "name" not in value:
            return {"name": "full", **value}
        return value

    @model_validator(mode="after")
    def _check_class_weights(self) -> "TunelabConfig":
        weights = self.task.class_weights
        if isinstance(weights, dict) and getattr(self.task, "labels", None) is not None:
            unknown = sorted(set(weights) - set(self.task.labels))
            if unknown:
                raise ValueError(f"task.class_weights names unknown labels {unknown}; labels are {self.task.labels}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return json.loads(self.model_dump_json())


TASK_CONFIGS: dict[str, type[BaseModel]] = {
    "text_classification": TextClassificationConfig,
    "token_classification": TokenClassificationConfig,
}


def _section_fields(path: tuple[Any, ...]) -> list[str]:
    """Valid keys at a location of the config tree, for error messages."""
    model: type[BaseModel] = TunelabConfig
    for part in path:
        unions = {"task": TASK_CONFIGS, "method": METHOD_CONFIGS}
        union = next((u for key, u in unions.items() if model is TunelabConfig.model_fields[key].annotation), None)
        if union is not None and part in union:
            model = union[part]
            continue
        field = model.model_fields.get(str(part)) if isinstance(part, str) else None
        annotation = field.annotation if field is not None else None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        elif part in ("task", "method"):
            model = TunelabConfig.model_fields[part].annotation  # a union; its tag follows in the path
        else:
            break
    return list(model.model_fields) if isinstance(model, type) else []


def _format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"invalid configuration ({source}):"]
    for item in err.errors():
        loc = tuple(item["loc"])
        # pydantic puts the union tag in the location (task.token_classification.x); users wrote task.x
        tags = {"task": TASK_CONFIGS, "method": METHOD_CONFIGS}
        shown = tuple(p for i, p in enumerate(loc) if not (i == 1 and loc[0] in tags and p in tags[loc[0]]))
        dotted = ".".join(str(p) for p in shown) or "(top level)"
        if item["type"] == "extra_forbidden":
            valid = _section_fields(loc[:-1])
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
    try:
        config = TunelabConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, source)) from None
    # Paths written in the file are relative to the file; paths given as overrides to the cwd.
    data = config.data
    for split in ("train", "dev", "test"):
        value = getattr(data, split)
        if value is not None and not value.is_absolute() and split in file_data and str(file_data[split]) == str(value):
            setattr(data, split, (base_dir / value).resolve())
    return config
