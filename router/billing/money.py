"""Exact money: amounts are `decimal.Decimal` in the API and integer nano-dollars in the store.

Token prices are tiny (a cheap model costs $0.00000005 per token), so cents or micro-dollars would
round real charges to zero; one nano-dollar (1e-9 USD) keeps every catalog price exact while an
int64 still holds ±9.2 billion dollars. Floats never touch a balance: prices that arrive as floats
(the catalog's `Candidate`) go through `Decimal(repr(x))`, the shortest decimal that round-trips.
"""
from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal, InvalidOperation

__all__ = ["NANOS_PER_USD", "to_nanos", "from_nanos", "parse_usd", "request_cost"]

NANOS_PER_USD = 10**9
_NANOS = Decimal(NANOS_PER_USD)


def to_nanos(amount: Decimal, *, round_up: bool = False) -> int:
    """USD → integer nano-dollars; charges round half-even, holds round up (never under-reserve)."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"money must be decimal.Decimal, got {type(amount).__name__}")
    if not amount.is_finite():
        raise ValueError("money must be a finite amount")
    return int(amount.scaleb(9).to_integral_value(ROUND_CEILING if round_up else ROUND_HALF_EVEN))


def from_nanos(nanos: int) -> Decimal:
    """Integer nano-dollars → USD, exact and without trailing zeros (`from_nanos(1_500_000_000) == Decimal('1.5')`)."""
    return Decimal(nanos) / _NANOS  # exact: an int64 has fewer digits than the 28 of the default context


def parse_usd(value: Decimal | int | float | str) -> Decimal:
    """Read a user-supplied dollar amount (JSON number, CLI string) as an exact Decimal."""
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, bool):
        raise ValueError("an amount must be a number, not a boolean")
    elif isinstance(value, float):
        amount = Decimal(repr(value))
    else:
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"not a dollar amount: {value!r}") from None
    if not amount.is_finite():
        raise ValueError("an amount must be finite")
    return amount


def request_cost(prompt_tokens: int, completion_tokens: int, *, prompt_price: float | Decimal,
                 completion_price: float | Decimal, request_price: float | Decimal = 0) -> Decimal:
    """List price of one request: prompt + completion tokens at per-token prices, plus a flat fee.

    >>> request_cost(1000, 500, prompt_price=0.000001, completion_price=0.000002)
    Decimal('0.002000')
    """
    return (parse_usd(request_price) + prompt_tokens * parse_usd(prompt_price)
            + completion_tokens * parse_usd(completion_price))
