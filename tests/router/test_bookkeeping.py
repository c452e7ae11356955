"""`router.bookkeeping.Bookkeeper`: book-keeping waits a few ms after the answer, and every read that
must count the latest requests, and shutdown, runs what is pending first."""
from __future__ import annotations

import asyncio
import sqlite3
from decimal import Decimal

import duckdb
import httpx
import pytest

from router.app import create_app
from router.bookkeeping import Bookkeeper
from router.catalog import parse_catalog
from tests.conftest import ServerThread
from tests.router.conftest import AUTH, catalog_dict

HELLO = [{"role": "user", "content": "Say hello"}]
FOREVER_S = 1.0  # longer than any test below waits: only a flush makes a booking visible


def test_jobs_wait_for_the_delay_then_run_together_in_order():
    async def scenario():
        keeper = Bookkeeper(delay_s=0.05)
        ran: list[str] = []
        keeper.defer(lambda: ran.append("a"))
        keeper.defer(lambda: ran.append("b"))
        await asyncio.sleep(0.01)
        before = list(ran)
        await asyncio.sleep(0.1)
        return before, ran, keeper.pending
    before, after, pending = asyncio.run(scenario())
    assert before == [] and after == ["a", "b"] and pending == 0


def test_flush_runs_everything_now_and_a_failing_job_does_not_stop_the_rest():
    async def scenario():
        keeper = Bookkeeper(delay_s=FOREVER_S)
        ran: list[str] = []

        def fail():
            raise RuntimeError("ledger down")
        keeper.defer(fail)
        keeper.defer(lambda: (ran.append("b"), keeper.defer(lambda: ran.append("c"))))  # defers another
        keeper.flush()
        return ran, keeper.pending
    ran, pending = asyncio.run(scenario())
    assert ran == ["b", "c"] and pending == 0


def test_zero_delay_runs_at_once_without_a_loop():
    ran = []
    Bookkeeper(delay_s=0).defer(lambda: ran.append(1))
    assert ran == [1]


@pytest.fixture
def slow_books(demo, settings):
    """A gateway whose book-keeping would wait a whole second after each answer."""
    app = create_app(settings.with_(bookkeeping_delay_s=FOREVER_S), catalog=parse_catalog(catalog_dict(demo)))
    server = ServerThread(app).__enter__()
    server.app = app
    yield server
    server.__exit__(None, None, None)


def _prepaid_key(url: str) -> str:
    key = httpx.post(url + "/v1/keys", headers=AUTH, json={"name": "reader", "account": "readers"}).json()["key"]
    httpx.post(url + "/v1/credits", headers=AUTH, json={"account": "readers", "amount": "1.00"}).raise_for_status()
    return key


def _complete(url: str, key: str) -> dict:
    response = httpx.post(url + "/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                          json={"model": "test/llama", "messages": HELLO, "max_tokens": 5})
    response.raise_for_status()
    return response.json()


def test_credits_key_usage_and_generation_count_a_request_answered_just_before(slow_books):
    key = _prepaid_key(slow_books.url)
    answer = _complete(slow_books.url, key)
    assert slow_books.app.state.dispatcher.bookkeeper.pending == 1  # booked later, not yet
    auth = {"authorization": f"Bearer {key}"}
    credits = httpx.get(slow_books.url + "/v1/credits", headers=auth).json()["data"]
    charged = Decimal(str(answer["usage"]["cost"]))
    assert Decimal(str(credits["total_usage"])) == pytest.approx(charged, abs=Decimal("1e-9"))
    assert Decimal(str(credits["reserved"])) == 0
    answer2 = _complete(slow_books.url, key)
    usage = httpx.get(slow_books.url + "/v1/key", headers=auth).json()["data"]
    assert Decimal(str(usage["usage"])) == pytest.approx(charged + Decimal(str(answer2["usage"]["cost"])),
                                                          abs=Decimal("1e-9"))
    answer3 = _complete(slow_books.url, key)
    detail = httpx.get(slow_books.url + "/v1/generation", params={"id": answer3["id"]}, headers=auth)
    assert detail.status_code == 200, detail.text


def test_shutdown_books_what_is_pending(slow_books, settings):
    key = _prepaid_key(slow_books.url)
    answer = _complete(slow_books.url, key)
    assert slow_books.app.state.dispatcher.bookkeeper.pending == 1
    slow_books.__exit__(None, None, None)  # lifespan shutdown, well within the 1 s delay
    with sqlite3.connect(settings.billing_path) as db:
        (booked,) = db.execute("SELECT count(*) FROM ledger WHERE generation_id = ?", (answer["id"],)).fetchone()
    with duckdb.connect(str(settings.telemetry_path), read_only=True) as db:
        (events,) = db.execute("SELECT count(*) FROM events WHERE generation_id = ?", [answer["id"]]).fetchone()
    assert booked == 1 and events == 1
