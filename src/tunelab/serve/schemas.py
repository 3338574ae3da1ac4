"""Request and response bodies of the HTTP API, and its one error shape:
``{"error": {"code": ..., "message": ..., "detail": ...}}``."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

PREDICT_EXAMPLES: dict[str, dict[str, Any]] = {
    "classification": {
        "summary": "Classify two texts",
        "value": {"texts": ["I was charged twice for my card payment", "Where is my new card?"], "top_k": 1},
    },
    "top_k": {
        "summary": "Three best labels with scores",
        "value": {"texts": ["How do I top up with a bank transfer?"], "top_k": 3},
    },
    "ner": {
        "summary": "Entities (token classification model)",
        "value": {"texts": ["John Smith flew from Paris to Berlin on Monday."]},
    },
}


class PredictRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [example["value"] for example in PREDICT_EXAMPLES.values()]},
    )

    texts: list[str] = Field(
        description="Texts to classify or tag: at least one, at most `max_texts` (default 64), each at most "
        "`max_chars` characters (default 2000).",
    )
    top_k: int = Field(1, ge=1, le=1000, description="Labels with scores per text (classification only).")


class LabelScore(BaseModel):
    label: str
    score: float


class ClassificationPrediction(BaseModel):
    text: str
    label: str | None = Field(None, description="Best label (single-label models).")
    score: float | None = Field(None, description="Probability of `label`.")
    labels: list[str] | None = Field(None, description="Labels over the threshold (multi-label models).")
    top: list[LabelScore] = Field(description="The `top_k` best labels, best first.")


class Entity(BaseModel):
    text: str
    type: str
    start: int = Field(description="Character offset of the entity in the text.")
    end: int = Field(description="Character offset just past the entity.")
    score: float


class EntityPrediction(BaseModel):
    text: str
    entities: list[Entity]


class ModelSummary(BaseModel):
    name: str
    task: str
    backend: str


class PredictResponse(BaseModel):
    model: ModelSummary
    predictions: list[ClassificationPrediction | EntityPrediction] = Field(description="One per text, in order.")


class Limits(BaseModel):
    max_texts: int
    max_chars: int
    max_body_bytes: int
    max_batch_size: int
    max_wait_ms: float


class ModelInfo(BaseModel):
    name: str
    task: str
    backend: str
    labels: list[str]
    entity_types: list[str] | None = None
    multi_label: bool = False
    max_length: int
    base_model: str | None = None
    metrics: dict[str, Any] = Field(description="Scores on the artifact's evaluation split.")
    versions: dict[str, str] = Field(description="Library versions the model was trained with.")
    limits: Limits


class HealthResponse(BaseModel):
    status: str = "ok"


class ReadyResponse(BaseModel):
    status: str = "ready"
    model: ModelSummary


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. `unauthorized`, `too_many_texts`.")
    message: str
    detail: Any = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class ApiError(Exception):
    """An error answered with the API's JSON error shape."""

    def __init__(self, status_code: int, code: str, message: str, detail: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.detail = detail
        self.headers = headers


def error_response(status_code: int, code: str, message: str, detail: Any = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "detail": detail}}
    return JSONResponse(body, status_code=status_code, headers=headers)


def limit_error(status_code: int, code: str, message: str, limit: str, value: Any, **extra: Any) -> ApiError:
    """An error for a broken limit; ``detail`` names the limit and its value."""
    return ApiError(status_code, code, message, detail={"limit": limit, "value": value, **extra})


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        401: "Missing or invalid API key",
        413: "Request body too large",
        422: "Invalid JSON, or texts over a limit",
        503: "Model not loaded yet, or overloaded",
    }.items()
}
