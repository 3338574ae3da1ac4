"""The `method` section: one config class per training method, told apart by `name` (see tunelab.config)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Union, get_args

from pydantic import BaseModel, Field, TypeAdapter

from tunelab.config_base import Section

# Each method's own defaults were measured: BANKING77 (77 intents, 8,998 training questions) with
# MiniLM, 6 epochs, batch 32 (docs/methods.md, `benchmarks/methods.py`). peft's own defaults (LoRA
# rank 8 on query/value only) at full fine-tuning's learning rate gave a 0.41 model where full
# fine-tuning reaches 0.93; these give each method its measured best.
MEASURED_ON = "BANKING77 with MiniLM, docs/methods.md"


class MethodSection(Section):
    """What every method's section has: its own learning rate."""

    default_learning_rate: ClassVar[float | None] = None  # None: training.learning_rate
    measured: ClassVar[tuple[str, ...]] = ()  # the other keys whose defaults were measured

    learning_rate: float | None = Field(
        None,
        gt=0,
        description="This method's learning rate; default: the method's measured one (full fine-tuning: "
        "training.learning_rate). training.learning_rate is full fine-tuning's rate and is not used by the "
        "other methods unless set here.",
    )

    def effective_learning_rate(self, training_learning_rate: float) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return self.default_learning_rate if self.default_learning_rate is not None else training_learning_rate

    def defaults_used(self) -> dict[str, Any]:
        """The measured defaults this section falls back on (keys the user did not set), for the start message."""
        used = {key: getattr(self, key) for key in self.measured if key not in self.model_fields_set}
        if self.learning_rate is None and self.default_learning_rate is not None:
            used = {"learning_rate": self.default_learning_rate, **used}
        return used


class FullMethodConfig(MethodSection):
    name: Literal["full"] = "full"


class FrozenMethodConfig(MethodSection):
    default_learning_rate: ClassVar[float | None] = 3e-3
    name: Literal["frozen"] = "frozen"
    train_top_layers: int = Field(0, ge=0, description="Also train the top N transformer layers.")
    merge: bool = Field(False, description="Save a full plain model instead of the trained weights only.")


TargetModules = Union[list[str], Literal["all-linear"], None]
TARGETS_HELP = "Modules to adapt; all-linear: every linear layer but the head; null: peft's choice (BERT: query/value)."


class LoraMethodConfig(MethodSection):
    default_learning_rate: ClassVar[float | None] = 2e-3  # 1e-3: 0.9045, 2e-3: 0.9085 (docs/methods.md)
    measured: ClassVar[tuple[str, ...]] = ("r", "alpha", "target_modules")
    name: Literal["lora"] = "lora"
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    target_modules: TargetModules = Field("all-linear", description=TARGETS_HELP)
    loraplus_lr_ratio: float = Field(
        1.0, ge=1.0, description="LoRA+: the B matrices' learning rate is this many times A's (1: plain LoRA)."
    )
    bias: Literal["none", "all", "lora_only"] = "none"
    merge: bool = Field(False, description="Merge the adapter into a plain model when saving.")


class AdaLoraMethodConfig(MethodSection):
    default_learning_rate: ClassVar[float | None] = 1e-3
    measured: ClassVar[tuple[str, ...]] = ("init_r", "target_r", "target_modules")
    name: Literal["adalora"] = "adalora"
    init_r: int = Field(16, ge=1, description="Rank each adapted matrix starts with.")
    target_r: int = Field(8, ge=1, description="Average rank the budget is pruned to.")
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    target_modules: TargetModules = Field("all-linear", description=TARGETS_HELP)
    tinit: float = Field(0.1, ge=0, lt=1, description="Share of steps before pruning starts.")
    tfinal: float = Field(0.2, ge=0, lt=1, description="Share of final steps with the budget fixed.")
    delta_t: int = Field(10, ge=1, description="Steps between budget reallocations.")
    beta1: float = 0.85
    beta2: float = 0.85
    orth_reg_weight: float = Field(0.5, ge=0)
    merge: bool = False


class Ia3MethodConfig(MethodSection):
    default_learning_rate: ClassVar[float | None] = 5e-3
    name: Literal["ia3"] = "ia3"
    target_modules: list[str] | None = None
    feedforward_modules: list[str] | None = None
    merge: bool = False


class PrefixTuningMethodConfig(MethodSection):
    default_learning_rate: ClassVar[float | None] = 1e-2
    measured: ClassVar[tuple[str, ...]] = ("num_virtual_tokens",)
    name: Literal["prefix_tuning"] = "prefix_tuning"
    num_virtual_tokens: int = Field(20, ge=1)
    prefix_projection: bool = False
    encoder_hidden_size: int | None = Field(None, ge=1)


class PromptTuningMethodConfig(MethodSection):
    default_learning_rate: ClassVar[float | None] = 3e-2
    measured: ClassVar[tuple[str, ...]] = ("num_virtual_tokens",)
    name: Literal["prompt_tuning"] = "prompt_tuning"
    num_virtual_tokens: int = Field(20, ge=1)
    init_text: str | None = Field(None, description="Initialise the soft prompt from this text's embeddings.")


class PTuningMethodConfig(MethodSection):
    default_learning_rate: ClassVar[float | None] = 1e-2
    measured: ClassVar[tuple[str, ...]] = ("num_virtual_tokens",)
    name: Literal["p_tuning"] = "p_tuning"
    num_virtual_tokens: int = Field(20, ge=1)
    encoder_hidden_size: int = Field(128, ge=1)
    encoder_type: Literal["MLP", "LSTM"] = "MLP"


class AdapterMethodConfig(MethodSection):
    default_learning_rate: ClassVar[float | None] = 1e-3
    measured: ClassVar[tuple[str, ...]] = ("style", "reduction_factor")
    name: Literal["adapter"] = "adapter"
    style: Literal["pfeiffer", "houlsby"] = Field(
        "pfeiffer", description="pfeiffer: one adapter after each layer's feed-forward; houlsby: also after attention."
    )
    reduction_factor: int = Field(16, ge=1, description="Hidden size / adapter bottleneck size.")
    non_linearity: Literal["relu", "gelu", "tanh"] = "relu"


MethodConfig = Annotated[
    Union[
        FullMethodConfig,
        FrozenMethodConfig,
        LoraMethodConfig,
        AdaLoraMethodConfig,
        Ia3MethodConfig,
        PrefixTuningMethodConfig,
        PromptTuningMethodConfig,
        PTuningMethodConfig,
        AdapterMethodConfig,
    ],
    Field(discriminator="name"),
]
METHOD_CONFIGS: dict[str, type[BaseModel]] = {
    cls.model_fields["name"].default: cls for cls in get_args(get_args(MethodConfig)[0])
}
METHOD_CONFIG_ADAPTER: TypeAdapter = TypeAdapter(MethodConfig)


def parse_method_config(data: dict[str, Any] | None):
    return METHOD_CONFIG_ADAPTER.validate_python({"name": "full", **(data or {})})
