"""Request and response bodies of the HTTP API, and its one error shape:
``{"error": {"code": ..., "message": ..., "detail": ...}}``."""

from __future__ import annotations

from typing import Any, Union

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field


def _predict_examples() -> dict[str, dict[str, Any]]:
    """Request examples for the OpenAPI page: each registered task's own."""
    from tunelab.tasks import task_specs

    examples: dict[str, dict[str, Any]] = {}
    for spec in task_specs():
        examples.update(spec.task_class().request_examples)
    return examples


PREDICT_EXAMPLES: dict[str, dict[str, Any]] = _predict_examples()


class PredictRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [example["value"] for example in PREDICT_EXAMPLES.values()]},
    )

    texts: list[str] = Field(
        default_factory=list,
        description="Texts to classify or tag: at least one, at most `max_texts` (default 64), each at most "
        "`max_chars` characters (default 2000).",
    )
    items: list[dict[str, str]] | None = Field(
        None,
        description="Instead of texts: inputs as the model's named fields (`input_fields` in /v1/model), e.g. "
        "`{question, context}` for extractive QA; the same limits per item and per field.",
    )
    text_pairs: list[str] | None = Field(
        None,
        description="Second texts, one per text: required by models trained on text pairs, refused by others.",
    )
    top_k: int = Field(1, ge=1, le=1000, description="Labels with scores per text (models with labels).")


class ModelSummary(BaseModel):
    name: str
    task: str
    backend: str


def _prediction_schema() -> Any:
    """One prediction: the union of every registered task's prediction schema (for OpenAPI)."""
    from tunelab.tasks import task_specs

    schemas = tuple(spec.task_class().prediction_schema for spec in task_specs())
    return Union[schemas] if len(schemas) > 1 else schemas[0]  # noqa: UP007


class PredictResponse(BaseModel):
    model: ModelSummary
    predictions: list[_prediction_schema()] = Field(description="One per text, in order.")  # type: ignore[valid-type]


class Limits(BaseModel):
    max_texts: int
    max_chars: int
    max_body_bytes: int
    max_batch_size: int
    max_wait_ms: float


class ModelInfo(BaseModel):
    model_config = ConfigDict(extra="allow")  # plus the task's own facts (entity_types, multi_label, ...)

    name: str
    task: str
    backend: str
    labels: list[str]
    pairs: bool = Field(False, description="Trained on text pairs: /v1/predict needs `text_pairs`.")
    input_fields: list[str] = Field(
        default_factory=list, description="The named fields of one input in /v1/predict's `items`."
    )
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

    def __init__(
        self, status_code: int, code: str, message: str, detail: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.detail = detail
        self.headers = headers


def error_response(
    status_code: int, code: str, message: str, detail: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "detail": detail}}
    return JSONResponse(body, status_code=status_code, headers=headers)


def limit_error(status_code: int, code: str, message: str, limit: str, value: Any, **extra: Any) -> ApiError:
    """An error for a broken limit; ``detail`` names the limit and its value."""
    return ApiError(status_code, code, message, detail={"limit": limit, "value": value, **extra})


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        401: "Missing or invalid API key",
        408: "The request body did not arrive in time",
        413: "Request body too large",
        415: "The body is not declared as JSON (Content-Type: application/json)",
        422: "Invalid JSON, texts over a limit, or empty / whitespace-only / NUL texts",
        429: "Too many requests in flight for this API key (Retry-After)",
        503: "Model not loaded yet, or overloaded (Retry-After)",
        504: "Not answered within the request deadline",
    }.items()
}
