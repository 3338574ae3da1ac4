from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from tunelab.errors import ConfigError


def serve_cli(
    artifact: Path = typer.Argument(..., help="A trained (or exported) tunelab artifact directory."),
    backend: Optional[str] = typer.Option(
        None, envvar="TUNELAB_BACKEND", help="torch or onnx (default: torch, or onnx for an exported artifact)."
    ),
    dtype: str = typer.Option(
        "float32",
        envvar="TUNELAB_DTYPE",
        help="float32, or bfloat16 (torch backend; faster on CPUs with AVX512-BF16/AMX).",
    ),
    host: str = typer.Option("127.0.0.1", envvar="TUNELAB_HOST", help="Address to listen on."),
    port: int = typer.Option(8000, envvar="TUNELAB_PORT", min=0, max=65535, help="Port to listen on."),
    workers: int = typer.Option(1, envvar="TUNELAB_WORKERS", min=1, help="Worker processes (one model each)."),
    threads: int = typer.Option(1, envvar="TUNELAB_THREADS", min=1, help="Intra-op threads of one model call."),
    parallel_batches: Optional[int] = typer.Option(
        None,
        envvar="TUNELAB_PARALLEL_BATCHES",
        min=1,
        help="Model calls at once per worker, one thread each (default: CPU cores / workers / threads).",
    ),
    api_key_file: Optional[Path] = typer.Option(
        None,
        envvar="TUNELAB_API_KEY_FILE",
        help="File of API keys, one a line ('#' comments). Keys also come from TUNELAB_API_KEYS=k1,k2.",
    ),
    allow_unauthenticated_remote: bool = typer.Option(
        False, "--allow-unauthenticated-remote", help="Allow a non-loopback --host without API keys."
    ),
    max_batch_size: int = typer.Option(32, envvar="TUNELAB_MAX_BATCH_SIZE", min=1, help="Most texts per model call."),
    model_batch_size: int = typer.Option(
        8,
        envvar="TUNELAB_MODEL_BATCH_SIZE",
        min=1,
        help="Texts per forward pass within a model call (sorted by length).",
    ),
    max_wait_ms: float = typer.Option(
        5.0, envvar="TUNELAB_MAX_WAIT_MS", min=0, help="Longest wait for more requests to fill a batch."
    ),
    max_texts: int = typer.Option(64, envvar="TUNELAB_MAX_TEXTS", min=1, help="Most texts per request."),
    max_chars: int = typer.Option(2000, envvar="TUNELAB_MAX_CHARS", min=1, help="Most characters per text."),
    max_body_bytes: int = typer.Option(
        1_000_000, envvar="TUNELAB_MAX_BODY_BYTES", min=1, help="Largest request body in bytes."
    ),
    log_level: str = typer.Option("info", envvar="TUNELAB_LOG_LEVEL", help="critical, error, warning, info, debug."),
    header_timeout: float = typer.Option(
        10.0,
        "--header-timeout",
        envvar="TUNELAB_HEADER_TIMEOUT_S",
        help="Seconds a client has to send its request headers; then the connection is closed.",
    ),
    body_timeout: float = typer.Option(
        30.0, "--body-timeout", envvar="TUNELAB_BODY_TIMEOUT_S", help="Seconds to send the request body (408 beyond)."
    ),
    request_timeout: float = typer.Option(
        20.0,
        "--request-timeout",
        envvar="TUNELAB_REQUEST_TIMEOUT_S",
        help="Deadline of a request once its body has arrived: queue and model (504 beyond).",
    ),
    max_concurrent_per_key: int = typer.Option(
        32,
        envvar="TUNELAB_MAX_CONCURRENT_PER_KEY",
        min=0,
        help="Requests in flight at once per API key (429 beyond); 0: no cap.",
    ),
    cors_origin: Optional[list[str]] = typer.Option(
        None,
        "--cors-origin",
        help="An origin allowed to call the API from a browser (repeat for more; env TUNELAB_CORS_ORIGINS=a,b). "
        "Default: no CORS headers.",
    ),
    log_texts: bool = typer.Option(
        False, "--log-texts", envvar="TUNELAB_LOG_TEXTS", help="Log request texts, masked (e-mails, phones, ids)."
    ),
) -> None:
    """Serve predictions over HTTP (POST /v1/predict), with dynamic batching, API keys and metrics.

    Examples:

      tunelab serve runs/banking77 --port 8000

      tunelab serve runs/banking77-onnx --host 0.0.0.0 --api-key-file keys.txt --workers 2
    """
    from pydantic import ValidationError

    from tunelab.serve.preflight import check_artifact
    from tunelab.serve.settings import ServeSettings, check_bind_policy

    # --cors-origin wins; without it TUNELAB_CORS_ORIGINS (comma-separated) is read, else no CORS
    origins: dict[str, Any] = {"cors_origins": tuple(cors_origin)} if cors_origin else {}
    try:
        settings = ServeSettings(
            artifact=artifact,
            backend=backend,
            dtype=dtype,
            host=host,
            port=port,
            workers=workers,
            threads=threads,
            parallel_batches=parallel_batches,
            api_key_file=api_key_file,
            allow_unauthenticated_remote=allow_unauthenticated_remote,
            max_batch_size=max_batch_size,
            model_batch_size=model_batch_size,
            max_wait_ms=max_wait_ms,
            max_texts=max_texts,
            max_chars=max_chars,
            max_body_bytes=max_body_bytes,
            log_level=log_level,
            header_timeout_s=header_timeout,
            body_timeout_s=body_timeout,
            request_timeout_s=request_timeout,
            max_concurrent_per_key=max_concurrent_per_key or None,
            log_texts=log_texts,
            **origins,
        )
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"invalid serve settings: {problems}") from None
    check_bind_policy(settings)
    # fail now, in one line, not in a worker: no artifact, a broken tunelab.json, missing or damaged weights
    meta = check_artifact(settings.artifact, settings.backend)
    console = Console(stderr=True)
    if not settings.auth_enabled:
        console.print(
            "[bold yellow]warning:[/] authentication is off (no API keys); listening on "
            f"{settings.host} only. Use --api-key-file FILE or TUNELAB_API_KEYS to require keys."
        )
    else:
        console.print(f"API keys: {len(settings.api_keys)} configured; /v1 and /metrics need one.")
    console.print(
        f"serving {settings.name} ({meta.task.name}) on http://{settings.host}:{settings.port} "
        f"with {settings.workers} worker(s); docs at /docs"
    )

    from tunelab.serve.app import run

    run(settings)
