"""Concurrent requests never drive a balance or a key's limit below zero; each refused one gets a 402."""
from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import httpx

from router.billing import InsufficientCredits, LimitExceeded, request_cost

from .billing_testapp import ADMIN, COMPLETION_PRICE, MASTER_KEY, PROMPT_PRICE, bearer, build_app
from .billing_workers import reserve_many

HOLD = Decimal("0.01")  # each request's maximum list cost; the store holds it plus the 5% fee


def test_200_threads_reserving_against_a_balance_for_50(billing):
    secret, _ = billing.create_key(name="k", account_id="acme")
    billing.add_credits("acme", HOLD * Decimal("1.05") * 50)
    principal = billing.authenticate(f"Bearer {secret}")

    def attempt(_: int) -> str:
        try:
            hold = billing.reserve(principal, HOLD)
        except InsufficientCredits as refused:
            assert refused.status == 402
            return "refused"
        billing.settle(hold, HOLD)  # the worst case: every request costs its maximum
        return "served"

    with ThreadPoolExecutor(max_workers=32) as pool:
        outcomes = list(pool.map(attempt, range(200)))
    assert outcomes.count("served") == 50
    assert outcomes.count("refused") == 150
    assert billing.credits("acme")["balance"] == 0
    assert billing.credits("acme")["reserved"] == 0


def test_200_reservations_from_4_worker_processes_share_one_balance(billing, db_path: Path):
    secret, _ = billing.create_key(name="k", account_id="acme")
    billing.add_credits("acme", HOLD * Decimal("1.05") * 70)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=reserve_many, args=(str(db_path), MASTER_KEY, secret, HOLD, 50, results))
               for _ in range(4)]
    for worker in workers:
        worker.start()
    served = sum(results.get(timeout=60) for _ in workers)
    for worker in workers:
        worker.join(timeout=30)
    assert served == 70
    credits = billing.credits("acme")
    assert credits["balance"] - credits["reserved"] == 0


def test_200_concurrent_http_requests_402_once_the_balance_is_spent(billing, upstream):
    app = build_app(billing, upstream)
    max_cost = request_cost(1000, 1000, prompt_price=PROMPT_PRICE, completion_price=COMPLETION_PRICE)
    affordable = 37

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)  # runs no lifespan, so enter it here
        async with app.router.lifespan_context(app), \
                httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            created = (await client.post("/v1/keys", json={"name": "k", "account": "acme"}, headers=ADMIN)).json()
            await client.post("/v1/credits", headers=ADMIN,
                              json={"account": "acme", "amount": str(max_cost * Decimal("1.05") * affordable)})
            body = {"prompt_tokens": 1000, "max_tokens": 1000, "completion_tokens": 1000}
            return await asyncio.gather(*(client.post("/v1/chat/completions", json=body,
                                                      headers=bearer(created["key"])) for _ in range(200)))

    answers = asyncio.run(run())
    statuses = [answer.status_code for answer in answers]
    assert statuses.count(200) == affordable
    assert statuses.count(402) == 200 - affordable
    for answer in answers:
        if answer.status_code == 402:
            error = answer.json()["error"]
            assert error["code"] == 402 and error["type"] == "insufficient_quota" and error["message"]
    assert billing.credits("acme")["balance"] == 0
    assert upstream.seen_keys.count("sk-platform-upstream-key") == affordable  # no upstream call when refused


def test_concurrent_requests_never_overrun_a_key_limit(billing):
    secret, _ = billing.create_key(name="k", account_id="acme", limit=HOLD * Decimal("1.05") * 20)
    billing.add_credits("acme", Decimal("100"))
    principal = billing.authenticate(f"Bearer {secret}")

    def attempt(_: int) -> bool:
        try:
            billing.settle(billing.reserve(principal, HOLD), HOLD)
            return True
        except LimitExceeded as refused:
            assert refused.status == 402
            return False

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert sum(pool.map(attempt, range(200))) == 20
    usage = billing.key_usage(principal)
    assert usage["limit_remaining"] == 0
    assert billing.credits("acme")["balance"] == Decimal("100") - HOLD * Decimal("1.05") * 20
