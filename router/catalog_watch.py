"""Catalog hot reload: the scheduled price refresh re-reads the catalog file when it changed.

A valid new file is swapped into serving at once (dispatch, billing and `/models` read the new
prices from the next request on) and its prices are recorded in the telemetry price history; an
invalid one is logged and ignored, so a typo never takes the gateway down.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

from .catalog import Catalog, CatalogError, load_catalog

__all__ = ["CatalogWatcher", "catalog_prices"]

log = logging.getLogger("switchyard.catalog")


def catalog_prices(catalog: Catalog) -> dict[str, tuple[float, float, float]]:
    return {e.endpoint_id: (e.prompt_price, e.completion_price, e.request_price) for e in catalog.endpoints.values()}


class CatalogWatcher:
    def __init__(self, path: str | Path | None, catalog: Catalog, on_swap: Callable[[Catalog], None],
                 base_urls: dict[str, str] | None = None):
        self.path = Path(path) if path else None
        self.catalog = catalog
        self.on_swap = on_swap
        self.base_urls = base_urls  # demo mode keeps pointing every provider at the local upstreams
        self._mtime = self._stat()

    def _stat(self) -> int | None:
        try:
            return os.stat(self.path).st_mtime_ns if self.path else None
        except OSError:
            return None

    def reload_if_changed(self) -> bool:
        mtime = self._stat()
        if mtime is None or mtime == self._mtime:
            return False
        self._mtime = mtime
        try:
            catalog = load_catalog(self.path)
        except CatalogError as error:
            log.error("catalog not reloaded, still serving the previous one: %s", error)
            return False
        if self.base_urls:
            catalog = catalog.with_base_urls(self.base_urls)
        self.catalog = catalog
        self.on_swap(catalog)
        log.info("catalog reloaded from %s: %d models, %d endpoints", self.path, len(catalog.models),
                 len(catalog.endpoints))
        return True

    def prices(self) -> dict[str, tuple[float, float, float]]:
        """The scheduled price refresh's source: reload if the file changed, then report prices."""
        self.reload_if_changed()
        return catalog_prices(self.catalog)
