"""API-key authentication: ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``.

Only sha256 digests of the keys are held (see settings.py). A presented key is hashed and compared
with ``hmac.compare_digest`` against every stored digest, without stopping at the first match, so
the time taken does not tell how many keys there are or which one matched.

``key_slot`` caps the requests in flight per key (``max_concurrent_per_key``): one more gets 429
with ``Retry-After``, so one client cannot take every model slot of a shared service.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Iterable
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
        return self.match(presented) is not None

    def match(self, presented: str | None) -> int | None:
        """The index of the stored digest that ``presented`` matches, or None."""
        if not presented or not self._digests:
            return None
        candidate = hashlib.sha256(presented.encode("utf-8")).digest()
        matched = None
        for index, digest in enumerate(self._digests):  # every digest, no early exit
            if hmac.compare_digest(candidate, digest):
                matched = index
        return matched


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


async def require_api_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    x_api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> int | None:
    """Router dependency: passes when no keys are configured (None) or a presented key matches
    (the index of its digest)."""
    verifier: KeyVerifier = request.app.state.api_keys
    if not verifier.enabled:
        return None
    presented = [key for key in (bearer.credentials if bearer else None, x_api_key) if key]
    if not presented:
        raise unauthorized("an API key is required: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'")
    # check every presented key so a wrong bearer token cannot be told apart by timing
    matches = [verifier.match(key) for key in presented]
    found = next((m for m in matches if m is not None), None)
    if found is None:
        raise unauthorized("invalid API key")
    return found


class KeySlots:
    """Requests in flight per key (per worker process)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.in_flight: dict[int, int] = {}

    def acquire(self, key: int) -> None:
        count = self.in_flight.get(key, 0)
        if self.limit is not None and count >= self.limit:
            raise ApiError(
                429,
                "too_many_requests",
                f"this API key already has {count} requests in flight (limit {self.limit}); "
                "wait for an answer before sending more",
                detail={"limit": "max_concurrent_per_key", "value": self.limit},
                headers={"Retry-After": "1"},
            )
        self.in_flight[key] = count + 1

    def release(self, key: int) -> None:
        count = self.in_flight.get(key, 0) - 1
        if count > 0:
            self.in_flight[key] = count
        else:
            self.in_flight.pop(key, None)


async def key_slot(request: Request, key: Annotated[int | None, Depends(require_api_key)]) -> AsyncIterator[None]:
    """Router dependency: the API key check plus a slot of the key's cap, held until the request ends."""
    slots: KeySlots | None = getattr(request.app.state, "key_slots", None)
    if key is None or slots is None or slots.limit is None:
        yield
        return
    slots.acquire(key)
    try:
        yield
    finally:
        slots.release(key)


ApiKeyDep = Depends(require_api_key)
KeySlotDep = Depends(key_slot)
