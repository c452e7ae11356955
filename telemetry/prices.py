"""Price observations: each endpoint's prices as intervals [valid_from, valid_to).

`record_prices` is called whenever the catalog is (re)loaded or a provider's `/models` reports
prices. An unchanged price is a no-op, a changed one closes the open row and opens a new one, so
`price_history` answers "what did this endpoint cost at time t" for cost analysis and the simulator.
Endpoints missing from an observation keep their open row: a partial refresh is not a removal.
"""
from __future__ import annotations

from typing import Mapping

import duckdb
import polars as pl

from .store import EventStore

__all__ = ["PriceTriple", "record_prices", "prices_at"]

PriceTriple = tuple[float, float, float]  # (prompt USD/token, completion USD/token, USD/request)

_CHANGED_SQL = """
    SELECT observed.*
    FROM _observed_prices AS observed
    LEFT JOIN price_history AS current
      ON current.endpoint_id = observed.endpoint_id AND current.valid_to IS NULL
    WHERE current.endpoint_id IS NULL
       OR current.prompt_price <> observed.prompt_price
       OR current.completion_price <> observed.completion_price
       OR current.request_price <> observed.request_price
"""


def _connection(store: EventStore | duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    return store.connection if isinstance(store, EventStore) else store


def record_prices(store: EventStore | duckdb.DuckDBPyConnection, prices: Mapping[str, PriceTriple],
                  now: float) -> int:
    """Record observed prices at time `now`; returns how many endpoints got a new price row."""
    if not prices:
        return 0
    observed = pl.DataFrame(
        {"endpoint_id": list(prices), "prompt_price": [float(p[0]) for p in prices.values()],
         "completion_price": [float(p[1]) for p in prices.values()],
         "request_price": [float(p[2]) for p in prices.values()]},
        schema={"endpoint_id": pl.String, "prompt_price": pl.Float64, "completion_price": pl.Float64,
                "request_price": pl.Float64})
    connection = _connection(store)
    connection.execute("BEGIN TRANSACTION")
    try:
        connection.register("_observed_prices", observed.to_arrow())
        changed = connection.sql(_CHANGED_SQL).pl()
        connection.unregister("_observed_prices")
        if changed.height:
            connection.register("_changed_prices", changed.to_arrow())
            connection.execute("""
                UPDATE price_history SET valid_to = $now
                WHERE valid_to IS NULL AND endpoint_id IN (SELECT endpoint_id FROM _changed_prices)
            """, {"now": now})
            connection.execute("""
                INSERT INTO price_history
                SELECT endpoint_id, prompt_price, completion_price, request_price, $now, NULL FROM _changed_prices
            """, {"now": now})
            connection.unregister("_changed_prices")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return changed.height


def prices_at(store: EventStore | duckdb.DuckDBPyConnection, ts: float) -> pl.DataFrame:
    """Each endpoint's prices in effect at unix time `ts`."""
    return _connection(store).sql("""
        SELECT endpoint_id, prompt_price, completion_price, request_price
        FROM price_history
        WHERE valid_from <= $ts AND (valid_to IS NULL OR valid_to > $ts)
        ORDER BY endpoint_id
    """, params={"ts": ts}).pl()
