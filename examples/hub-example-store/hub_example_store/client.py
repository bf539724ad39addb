"""The store's REST API, as plain async calls. No hub imports: this is the network edge."""

from __future__ import annotations

from typing import Any

import httpx


class StoreError(Exception):
    """The store refused a request or could not be reached; ``retry`` says whether to try again."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


class StoreClient:
    """One connection pool to the store; use as ``async with StoreClient(...) as store``."""

    def __init__(self, base_url: str, token: str, timeout: float = 20) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    async def __aenter__(self) -> StoreClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def _call(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        try:
            response = await self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise StoreError(f"store unreachable: {exc!r}", retry=True) from exc
        if response.status_code == 401:
            raise StoreError("the store refused the token (401)", retry=False)
        if response.status_code >= 400:
            message = response.json().get("error", response.text[:200])
            raise StoreError(
                f"{response.status_code}: {message}", retry=response.status_code >= 500
            )
        body: dict[str, Any] = response.json()
        return body

    async def ping(self) -> dict[str, Any]:
        return await self._call("GET", "/v1/ping")

    async def find(self, skus: list[str]) -> dict[str, dict[str, Any]]:
        """The store's products for these SKUs, by SKU (missing ones are absent)."""
        found = await self._call("GET", "/v1/products", params={"skus": ",".join(skus)})
        return {p["sku"]: p for p in found["products"]}

    async def upsert(self, products: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Create or update by SKU; one result per item: ``{"sku", "id"}`` or ``{"sku", "error"}``."""
        return list(
            (await self._call("POST", "/v1/products/batch", json={"products": products}))["results"]
        )

    async def set_stock(self, levels: dict[str, int]) -> list[str]:
        """Set stock by SKU; returns the SKUs the store does not have."""
        body = {"levels": [{"sku": sku, "stock": n} for sku, n in levels.items()]}
        return list((await self._call("PUT", "/v1/stock", json=body))["unknown"])

    async def orders_since(self, updated_after: str, limit: int = 100) -> list[dict[str, Any]]:
        params = {"updated_after": updated_after, "limit": str(limit)}
        return list((await self._call("GET", "/v1/orders", params=params))["orders"])
