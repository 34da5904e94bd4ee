"""The HTTP client of a lib_auth component: one it was given, or its own made on first use."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import httpx


class HttpClientHolder:
    """Closes only a client it made itself; usable as an async context manager."""

    def __init__(self, http: httpx.AsyncClient | None, timeout_s: float) -> None:
        self._http = http
        self._owns_http = http is None
        self._timeout_s = timeout_s

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout_s)
        return self._http

    async def aclose(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
