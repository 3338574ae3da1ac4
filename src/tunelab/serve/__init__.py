"""HTTP service for a tunelab artifact: ``tunelab serve`` or ``create_app(ServeSettings(artifact=...))``."""

from __future__ import annotations

__all__ = ["ServeSettings", "create_app", "create_app_from_env", "run"]


def __getattr__(name: str):
    # Lazy, like tunelab/__init__.py: importing tunelab.serve.settings does not pull in FastAPI.
    if name == "ServeSettings":
        from tunelab.serve.settings import ServeSettings

        return ServeSettings
    if name in ("create_app", "create_app_from_env", "run"):
        from tunelab.serve import app

        return getattr(app, name)
    raise AttributeError(f"module 'tunelab.serve' has no attribute {name!r}")
