"""The `method` section: one config class per training method, told apart by `name` (see tunelab.config)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union, get_args

from pydantic import BaseModel, Field, TypeAdapter

from tunelab.config_base import Section


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
