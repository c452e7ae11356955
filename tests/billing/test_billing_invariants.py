"""Property test: any interleaving of top-ups, reserves, settles, releases and expiries keeps the books
exact against a plain-Python model of the same rules."""
from __future__ import annotations

import tempfile
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.billing import Billing, InsufficientCredits

from .billing_testapp import MASTER_KEY, FakeClock

NANO = Decimal("0.000000001")
cents = st.integers(min_value=0, max_value=500).map(lambda n: Decimal(n) / 100)
operation = st.one_of(
    st.tuples(st.just("top_up"), cents),
    st.tuples(st.just("reserve"), cents),
    st.tuples(st.just("settle"), st.integers(0, 100)),  # percent of the hold's max cost actually used
    st.tuples(st.just("settle_byok"), st.integers(0, 100)),
    st.tuples(st.just("release"), st.just(0)),
    st.tuples(st.just("expire"), st.just(0)),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, min_size=1, max_size=30))
def test_books_match_a_simple_model(operations):
    with tempfile.TemporaryDirectory() as directory:
        clock = FakeClock()
        billing = Billing.open(Path(directory) / "b.sqlite", master_key=MASTER_KEY, environ={}, now=clock,
                               checkpoint_interval_s=None)
        try:
            secret, _ = billing.create_key(name="k", account_id="acme")
            principal = billing.authenticate(f"Bearer {secret}")
            credits, usage, open_holds = Decimal(0), Decimal(0), []  # the model
            for kind, value in operations:
                if kind == "top_up":
                    billing.add_credits("acme", value)
                    credits += value
                elif kind == "reserve":
                    needed = (value * Decimal("1.05")).quantize(NANO, ROUND_CEILING)
                    fits = credits - usage - sum(hold.amount for hold, _ in open_holds) >= needed
                    try:
                        open_holds.append((billing.reserve(principal, value), value))
                        assert fits
                    except InsufficientCredits:
                        assert not fits
                elif kind.startswith("settle") and open_holds:
                    hold, max_cost = open_holds.pop(0)
                    cost = max_cost * value / 100
                    fee = (cost * Decimal("0.05")).quantize(NANO, ROUND_HALF_EVEN)
                    expected = Decimal(0) if cost == 0 else fee if kind == "settle_byok" else cost + fee
                    assert billing.settle(hold, cost, is_byok=kind == "settle_byok") == expected
                    usage += expected
                elif kind == "release" and open_holds:
                    billing.release(open_holds.pop(0)[0])
                elif kind == "expire":
                    clock.advance(billing.reservation_ttl_s + 1)
                    billing.store.purge_expired(clock())
                    open_holds.clear()  # expired holds no longer count (a late settle would still bill)
                books = billing.credits("acme")
                assert (books["total_credits"], books["total_usage"]) == (credits, usage)
                assert books["balance"] == credits - usage
                assert books["reserved"] == sum(hold.amount for hold, _ in open_holds)
                assert books["balance"] - books["reserved"] >= 0
        finally:
            billing.close()
