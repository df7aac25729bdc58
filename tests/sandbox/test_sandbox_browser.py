"""The sandbox page in a real browser (Debian chromium + Playwright) against a real server.

Signs an escalating draft for the library's classic OIH patient, sees the OIH card,
dismisses it with an override reason and checks that the feedback reached the store.
Set ``OIH_UPDATE_SCREENSHOT=1`` to refresh ``docs/sandbox.png`` for the README.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from service.config import AuthMode, Settings
from service.scenarios import list_scenarios
from service.storage import TopicReport, create_store
from tests.sandbox.live_server import LiveServer, live_server

CHROMIUM = Path("/usr/bin/chromium")
# docs/tooling.md: Debian's chromium, never `playwright install`.
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]
REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="/usr/bin/chromium is missing: apt-get install -y --no-install-recommends chromium",
    ),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")


def classic_oih_scenario() -> str:
    """The library's classic OIH patient, by name (and it must expect the OIH card)."""
    info = next(s for s in list_scenarios() if s.name == "classic-oih")
    assert info.expect.get("oih-evaluate") == "fires"
    return info.name


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = Settings(
        auth_mode=AuthMode.DISABLED,
        sandbox_enabled=True,
        data_dir=tmp_path_factory.mktemp("data"),
        _env_file=None,
    )
    with live_server(settings) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, server: LiveServer) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.goto(f"{server.url}/sandbox")
    opened.wait_for_selector("body[data-ready=true]", timeout=15_000)
    yield opened
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def _report(settings: Settings) -> list[TopicReport]:
    async def read() -> list[TopicReport]:
        store = create_store(settings.effective_database_url)
        try:
            return await store.report(None)
        finally:
            await store.close()

    # Playwright's sync API owns this thread's event loop: query from another thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(read())).result(timeout=30)


def test_sign_escalating_draft_dismiss_oih_card_and_feedback_is_stored(
    page: Any, server: LiveServer, tmp_path: Path
) -> None:
    name = classic_oih_scenario()
    page.select_option("#scenario", name)
    page.wait_for_function(
        "document.getElementById('pt-story').textContent.includes('Oxycodone doubled twice')"
    )
    assert "54 y" in page.inner_text("#pt-facts")
    assert page.locator("#chart svg .mme-line").count() == 1
    assert page.locator("#chart svg .pain-dot").count() == 7

    # Edit the draft: oxycodone 30 mg every 4 h (the chart marks the projected dose).
    page.check("#draft-on")
    page.select_option("#drug", "oxycodone-30mg-tab")
    page.fill("#dose", "1")
    page.select_option("#freq", "6/d")
    page.wait_for_selector("#chart svg .draft-line", state="attached")
    assert "With this draft" in page.inner_text("#projection")

    page.click("#fire-order-sign")
    card = page.locator("li.card[data-topic='oih-evaluate']")
    card.wait_for(timeout=15_000)
    assert "card--warning" in (card.get_attribute("class") or "")
    assert card.locator(".card__detail table").count() >= 1  # GFM table rendered
    assert "order-sign → oih-order-sign: HTTP 200" in page.inner_text("#call-status")
    page.click("#tab-request")
    assert '"hook": "order-sign"' in page.inner_text("#request-json")
    page.click("#tab-eval")
    assert "MME per order" in page.inner_text("#evaluation")

    page.screenshot(path=str(tmp_path / "sandbox.png"))
    if os.environ.get("OIH_UPDATE_SCREENSHOT") == "1":
        page.set_viewport_size({"width": 1366, "height": 1000})
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(tmp_path / "sandbox-docs.png"))
        shutil.copyfile(tmp_path / "sandbox-docs.png", REPO / "docs" / "sandbox.png")

    # Dismiss with an override reason: real feedback to /cds-services/{id}/feedback.
    card.locator(".dismiss-toggle").click()
    reason = card.locator("select.reason")
    reason.select_option(index=1)
    chosen = reason.locator("option:checked").inner_text()
    card.locator(".confirm-dismiss").click()
    status = card.locator(".card__status.is-ok")
    status.wait_for(timeout=10_000)
    assert "Feedback recorded" in status.inner_text()
    assert chosen in status.inner_text()
    page.screenshot(path=str(tmp_path / "sandbox-dismissed.png"), full_page=True)

    reports = {r.topic: r for r in _report(server.settings)}
    oih = reports["oih-evaluate"]
    assert oih.shown >= 1
    assert oih.overridden == 1
    assert [r.display for r in oih.top_override_reasons] == [chosen]


def test_a_documented_evaluation_snoozes_the_card_and_the_page_can_clear_it(page: Any) -> None:
    """Accept "Document: OIH evaluated, not suspected", fire again, clear the snooze."""
    page.select_option("#scenario", "fentanyl-patch-escalation")
    page.locator("#pt-story", has_text="Fentanyl patch").wait_for(timeout=15_000)
    page.click("#fire-patient-view")
    card = page.locator("li.card[data-topic='oih-evaluate']")
    card.wait_for(timeout=15_000)
    card.locator(".btn--suggestion", has_text="Document: OIH evaluated").click()
    card.locator(".card__status.is-ok").wait_for(timeout=10_000)

    page.click("#fire-patient-view")
    notice = page.locator("#snoozed")
    notice.wait_for(state="visible", timeout=15_000)
    assert "the oih-evaluate card is snoozed until" in notice.inner_text()
    assert page.locator("li.card[data-topic='oih-evaluate']").count() == 0
    assert page.locator("li.card[data-topic='avoid-escalation']").count() == 1  # not snoozable

    page.click("#clear-snooze")
    page.locator("li.card[data-topic='oih-evaluate']").wait_for(timeout=15_000)
    notice.wait_for(state="hidden", timeout=15_000)


def test_service_errors_show_the_operation_outcome(page: Any) -> None:
    page.uncheck("#send-prefetch")  # no prefetch and no fhirServer: the service answers 412
    page.click("#fire-patient-view")
    alert = page.locator("#error")
    alert.wait_for(state="visible")
    text = alert.inner_text()
    assert "HTTP 412" in text
    assert "Required prefetch data is unavailable" in text


def test_markdown_renderer_escapes_html_and_unsafe_links(page: Any) -> None:
    html = page.evaluate(
        """async () => {
            const md = await import('/sandbox/static/markdown.js');
            return md.renderMarkdown(
              '## Risk\\n<img src=x onerror=alert(1)> **bold** [x](javascript:alert(1))\\n\\n' +
              '| a | b |\\n|---|--:|\\n| <b>1</b> | 2 |\\n\\n- one\\n- two');
        }"""
    )
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<strong>bold</strong>" in html
    assert "javascript:" not in html
    assert "<h4>Risk</h4>" in html
    assert '<td class="align-right">2</td>' in html
    assert "&lt;b&gt;1&lt;/b&gt;" in html
    assert "<ul><li>one</li><li>two</li></ul>" in html
