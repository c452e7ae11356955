"""Fixtures for the billing tests (helpers live in billing_testapp.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from router.billing import Billing

from .billing_testapp import MASTER_KEY, FakeClock, Upstream, build_app


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "billing.sqlite"


@pytest.fixture
def billing(db_path: Path, clock: FakeClock) -> Iterator[Billing]:
    billing = Billing.open(db_path, master_key=MASTER_KEY, environ={}, now=clock)
    yield billing
    billing.close()


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


@pytest.fixture
def client(billing: Billing, upstream: Upstream):
    from fastapi.testclient import TestClient

    with TestClient(build_app(billing, upstream)) as test_client:
        yield test_client
