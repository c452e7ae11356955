"""The marketplace page in headless Chromium (Debian's /usr/bin/chromium driven by Playwright).

Loads the page from a running gateway with the real catalog, checks that the table lists the
catalog, that filtering by capability and sorting by price change the rows, and that the detail
view shows live stats and history charts. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.marketplace.conftest import BUSY_MODEL

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium "
                                "(apt-get install chromium); the browser test needs it")


@pytest.fixture(scope="module")
def page(marketplace_gateway):
    # Imported here, after the chromium skip: a missing `playwright` package is an error, not a skip.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=marketplace_gateway.url)
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.errors = errors
        yield page
        context.close()
        browser.close()


def rows(page) -> list[str]:
    return page.locator("#model-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.modelId)")


def input_prices(page) -> list[float]:
    return page.locator("#model-table td[data-col=input-price]").evaluate_all(
        "cells => cells.map(c => Number(c.dataset.value))")


def test_table_lists_the_whole_catalog(page, real_catalog):
    page.goto("/models")
    page.wait_for_function("document.querySelectorAll('#model-table tbody tr').length > 700")
    assert sorted(rows(page)) == sorted(real_catalog.models)
    assert page.locator("#result-count").inner_text() == f"{len(real_catalog.models)} models"
    live_chip = page.locator(f"tr[data-model-id='{BUSY_MODEL}'] .live-chip").first
    assert re.search(r"\d+ ms|\d\.\d+ s", live_chip.inner_text())
    assert not page.errors


def test_filtering_by_capability_changes_the_rows(page, real_catalog):
    page.goto("/models")
    page.wait_for_function("document.querySelectorAll('#model-table tbody tr').length > 700")
    everything = rows(page)
    page.check("#capability-filters input[value=vision]")
    vision = rows(page)
    expected = [m.id for m in real_catalog.models.values() if "image" in m.input_modalities]
    assert 0 < len(vision) < len(everything) and sorted(vision) == sorted(expected)
    assert page.locator("#result-count").inner_text() == f"{len(expected)} of {len(everything)} models"
    page.check("#capability-filters input[value=tools]")
    both = rows(page)
    assert 0 < len(both) < len(vision) and set(both) <= set(vision)
    assert page.locator("#model-table tbody tr:not(:has([data-capability=tools]))").count() == 0
    assert "cap=tools%2Cvision" in page.url  # the filter state is in the URL, so a link shares it
    page.fill("#max-price", "0.5")
    cheap = input_prices(page)
    assert cheap and max(cheap) <= 0.5 and len(cheap) < len(both)
    assert not page.errors


def test_sorting_by_price_changes_the_order(page):
    page.goto("/models")
    page.wait_for_function("document.querySelectorAll('#model-table tbody tr').length > 700")
    ascending_rows, ascending = rows(page), input_prices(page)
    assert ascending == sorted(ascending)
    page.select_option("#sort", "price-desc")
    descending_rows, descending = rows(page), input_prices(page)
    assert descending == sorted(descending, reverse=True) and descending[0] > ascending[0]
    assert descending_rows[0] != ascending_rows[0] and sorted(descending_rows) == sorted(ascending_rows)
    page.select_option("#sort", "throughput-desc")
    assert rows(page)[0] in {BUSY_MODEL, "gpt-4o-mini", "claude-3-haiku-20240307"}  # only these have live figures
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "marketplace.png"))
    page.fill("#search", BUSY_MODEL)
    assert rows(page)[0] == BUSY_MODEL
    assert not page.errors


def test_detail_view_shows_endpoints_live_stats_and_charts(page, real_catalog):
    page.goto("/models")
    page.wait_for_function("document.querySelectorAll('#model-table tbody tr').length > 700")
    page.fill("#search", BUSY_MODEL)
    page.click(f"tr[data-model-id='{BUSY_MODEL}'] a")  # client-side navigation
    page.wait_for_selector("#endpoint-table")
    assert page.url.endswith(f"/models/{BUSY_MODEL}")
    assert page.locator("#detail-title").inner_text() == BUSY_MODEL
    endpoint_rows = page.locator("#endpoint-table tbody tr")
    assert endpoint_rows.count() == len(real_catalog.model(BUSY_MODEL).endpoints)
    for stat in ("ttft", "throughput", "uptime"):
        values = page.locator(f"#endpoint-table td[data-stat={stat}]").all_inner_texts()
        assert all(v != "–" for v in values), (stat, values)
    assert page.locator("#endpoint-table td[data-stat=uptime]").first.inner_text() == "100%"
    page.wait_for_selector("#history-charts svg.chart path")
    assert page.locator("#history-charts svg.chart").count() == 4
    assert page.locator("#history-charts svg.chart path").count() >= len(real_catalog.model(BUSY_MODEL).endpoints)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "marketplace-detail.png"), full_page=True)
    page.go_back()
    page.wait_for_selector("#list-view:not([hidden])")
    assert not page.errors


def test_detail_view_opens_from_its_own_url_and_reports_unknown_models(page):
    page.goto("/models/gpt-4o-mini")
    page.wait_for_selector("#endpoint-table")
    assert page.locator("#endpoint-table tbody tr").count() == 1
    page.goto("/models/gpt-4-turbo")  # no traffic: no empty charts, a sentence instead
    page.wait_for_selector("text=No traffic to this model in the last hour.")
    assert page.locator("#history-charts svg").count() == 0
    assert page.locator("#endpoint-table td[data-stat=ttft]").inner_text() == "–"
    page.goto("/models/no-such-model")
    page.wait_for_selector("text=Model not found")
