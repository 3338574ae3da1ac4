"""API-key authentication: ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``.

Only sha256 digests of the keys are held (see settings.py). A presented key is hashed and compared
with ``hmac.compare_digest`` against every stored digest, without stopping at the first match, so
the time taken does not tell how many keys there are or which one matched.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from tunelab.serve.schemas import ApiError
from tunelab.serve.settings import HASH_PREFIX

bearer_scheme = HTTPBearer(auto_error=False, description="`Authorization: Bearer KEY`")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: KEY`")


class KeyVerifier:
    """Checks presented keys against stored ``sha256:<hex>`` digests in constant time."""

    def __init__(self, digests: Iterable[str]) -> None:
        self._digests = tuple(bytes.fromhex(d.removeprefix(HASH_PREFIX)) for d in digests)

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def __len__(self) -> int:
        return len(self._digests)

    def __repr__(self) -> str:
        return f"KeyVerifier({len(self)} keys)"

    def verify(self, presented: str | None) -> bool:
        if not presented or not self._digests:
            return False
        candidate = hashlib.sha256(presented.encode("utf-8")).digest()
        matched = False
        for digest in self._digests:  # every digest, no early exit
            matched |= hmac.compare_digest(candidate, digest)
        return matched


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


async def require_api_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    x_api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> None:
    """Router dependency: passes when no keys are configured or a presented key matches."""
    verifier: KeyVerifier = request.app.state.api_keys
    if not verifier.enabled:
        return
    presented = [key for key in (bearer.credentials if bearer else None, x_api_key) if key]
    if not presented:
        raise unauthorized("an API key is required: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'")
    # check every presented key so a wrong bearer token cannot be told apart by timing
    if not any([verifier.verify(key) for key in presented]):  # noqa: C419 (a list: every key is checked)
        raise unauthorized("invalid API key")


ApiKeyDep = Depends(require_api_key)
