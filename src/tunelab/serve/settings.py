"""Service settings: CLI options, or ``TUNELAB_*`` environment variables (what ``--workers`` uses).

API keys never stay in memory in clear: every key, from ``TUNELAB_API_KEYS`` (comma-separated) or
from ``api_key_file`` (one a line, blank lines and ``#`` comments ignored), is replaced by its
``sha256:<hex>`` digest as soon as it is read. An entry already written as ``sha256:<64 hex>`` is
taken as a digest, so a key file need not hold the keys themselves.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tunelab.errors import ConfigError

HASH_PREFIX = "sha256:"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def hash_key(key: str) -> str:
    """The stored form of an API key: ``sha256:<hex digest>`` (entries already in that form pass through)."""
    key = key.strip()
    if key.startswith(HASH_PREFIX):
        digest = key.lower()
        if not _DIGEST.match(digest):
            raise ValueError("an entry starting with 'sha256:' must be followed by 64 hex digits")
        return digest
    return HASH_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


def read_key_file(path: Path) -> list[str]:
    """Keys in a file, one a line; blank lines and lines starting with '#' are skipped."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise ValueError(f"cannot read API key file {path}: {err.strerror or err}") from None
    keys = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    if not keys:
        raise ValueError(f"API key file {path} holds no keys")
    return keys


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ServeSettings(BaseSettings):
    """Everything `tunelab serve` can be told; each field reads ``TUNELAB_<NAME>`` from the environment."""

    model_config = SettingsConfigDict(env_prefix="TUNELAB_", extra="ignore", validate_default=True)

    artifact: Path = Field(description="Trained (or exported) tunelab artifact directory.")
    backend: Literal["torch", "onnx"] | None = Field(
        None, description="Inference backend; default torch for a trained artifact, onnx for an exported one."
    )
    dtype: Literal["float32", "bfloat16"] = Field(
        "float32",
        description="Weights and activations of the torch backend; bfloat16 is about 2.5x faster on CPUs "
        "with AVX512-BF16/AMX, with predictions that can differ slightly from training-time ones.",
    )
    model_name: str | None = Field(None, description="Name reported by the API; default the artifact folder name.")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes, each with its own model copy.")
    threads: int = Field(1, ge=1, le=256, description="Intra-op threads of one model call.")
    parallel_batches: int | None = Field(
        None,
        ge=1,
        le=256,
        description="Model calls running at once per worker, each in its own thread; "
        "default: usable CPU cores / workers.",
    )
    api_key_file: Path | None = None
    api_keys: Annotated[tuple[str, ...], NoDecode] = Field(
        (), repr=False, description="sha256 digests of the accepted keys (given as keys, hashed on read)."
    )
    allow_unauthenticated_remote: bool = False
    max_batch_size: int = Field(32, ge=1, le=1024, description="Most texts in one model call.")
    model_batch_size: int = Field(
        8,
        ge=1,
        le=1024,
        description="Texts per forward pass: a model call sorts its texts by length and "
        "runs them in passes of this size, so short texts are not padded to the longest.",
    )
    max_wait_ms: float = Field(5.0, ge=0, le=1000, description="Longest wait for more texts to fill a batch.")
    max_texts: int = Field(64, ge=1, le=100_000, description="Most texts in one request.")
    max_chars: int = Field(2000, ge=1, description="Most characters in one text.")
    max_body_bytes: int = Field(1_000_000, ge=1, description="Largest request body.")
    max_queue_texts: int = Field(
        4096, ge=1, description="Texts waiting for the model before new requests get 503 (back-pressure)."
    )
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Seconds a client has to send a request's headers (counted from the connection or from "
        "the first byte of the next request); then the connection is closed (408 when part of a request came).",
    )
    body_timeout_s: float = Field(
        30.0, gt=0, le=3600, description="Seconds a client has to send the whole request body (408 beyond)."
    )
    request_timeout_s: float = Field(
        20.0,
        gt=0,
        le=3600,
        description="Deadline of a request once its body has arrived: waiting for the model and the model "
        "call (504 `deadline_exceeded` beyond).",
    )
    max_concurrent_per_key: int | None = Field(
        32,
        ge=1,
        le=100_000,
        description="Requests to /v1 in flight at once per API key (429 beyond); None: no cap. "
        "Applies when API keys are configured, per worker process.",
    )
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Origins allowed to call the API from a browser (CORS), e.g. https://app.example.com; "
        "'*' for any. Default: none, and no CORS headers at all.",
    )
    log_texts: bool = Field(
        False, description="Put the request texts in the access log, masked (e-mails, phones, ids, ...)."
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _hash_keys(cls, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = value.split(",")
        return tuple(dict.fromkeys(hash_key(str(v)) for v in value if str(v).strip()))

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = value.split(",")
        origins = tuple(dict.fromkeys(str(v).strip().rstrip("/") for v in value if str(v).strip()))
        for origin in origins:
            if origin != "*" and not re.match(r"^https?://[^/\s]+$", origin):
                raise ValueError(f"'{origin}' is not an origin such as https://app.example.com (or '*')")
        return origins

    @field_validator("max_concurrent_per_key", mode="before")
    @classmethod
    def _none_or_number(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("", "none", "0", "off"):
            return None
        return None if value == 0 else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _merge_key_file(self) -> ServeSettings:
        if self.api_key_file is not None:
            from_file = (hash_key(k) for k in read_key_file(self.api_key_file))
            self.api_keys = tuple(dict.fromkeys([*self.api_keys, *from_file]))
        return self

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys)

    @property
    def name(self) -> str:
        return self.model_name or Path(self.artifact).resolve().name

    def concurrent_batches(self) -> int:
        """Model calls at once per worker: as set, else one single-threaded call per usable core.
        Independent single-threaded calls keep every core busy without the busy-waiting of intra-op
        thread pools, which collapses (100x slower measured) when other processes share the cores."""
        if self.parallel_batches:
            return self.parallel_batches
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return max(1, cores // (self.workers * self.threads))

    def to_env(self) -> dict[str, str]:
        """These settings as ``TUNELAB_*`` variables, for worker processes that rebuild them with
        ``ServeSettings()``. Keys travel as digests; the key file is not read again."""
        env: dict[str, str] = {}
        for name, value in self.model_dump(exclude={"api_key_file"}).items():
            if name in ("api_keys", "cors_origins"):
                env[f"TUNELAB_{name.upper()}"] = ",".join(value)
            elif name == "max_concurrent_per_key" and value is None:
                env["TUNELAB_MAX_CONCURRENT_PER_KEY"] = "none"
            elif value is not None:
                env[f"TUNELAB_{name.upper()}"] = str(value)
        return env


def check_bind_policy(settings: ServeSettings) -> None:
    """Refuse to listen beyond loopback without API keys, unless explicitly allowed."""
    if settings.auth_enabled or settings.allow_unauthenticated_remote or is_loopback(settings.host):
        return
    raise ConfigError(
        f"refusing to listen on {settings.host} without authentication: anyone who can reach this "
        "address could use the model. Give API keys with --api-key-file FILE (or TUNELAB_API_KEYS), "
        "bind to 127.0.0.1, or pass --allow-unauthenticated-remote if a gateway in front authenticates."
    )
