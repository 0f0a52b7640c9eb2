"""A lesson in a real browser (streamlit run + headless Chromium): open a step from its link, answer, go on with
Next, make the sign mistake and read the revealed derivation. Screenshots of a lesson step and of the revealed
derivation go to test-artifacts/ for people to look at."""
from __future__ import annotations

from urllib.parse import urljoin

import pytest

pytestmark = pytest.mark.browser


def _settled(page, text: str) -> None:
    page.get_by_text(text, exact=False).first.wait_for(timeout=90_000)
    page.wait_for_timeout(1000)


def _answer(page, text: str) -> None:
    box = page.get_by_label("Your answer")
    box.fill(text)
    box.press("Enter")  # commit the text before the click
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Check", exact=True).click()


def test_clicking_through_the_single_weight_lesson(app_server, browser_page, artifacts):
    page = browser_page
    page.goto(f"{app_server}/lessons?lesson=single-weight&step=1")
    _settled(page, "Step 1 of 4")
    # ŷ = 1·2 + 1 = 3, then L = (3 − 10)² = 49
    _answer(page, "3")
    _settled(page, "Right: 3")
    page.get_by_role("button", name="Next ▶").click()
    _settled(page, "Step 2 of 4")
    assert "step=2" in page.url
    _answer(page, "49")
    _settled(page, "Right: 49")
    page.get_by_role("button", name="Next ▶").click()
    _settled(page, "Step 3 of 4")
    page.screenshot(path=str(artifacts / "browser-lesson-step.png"), full_page=True)
    _answer(page, "28")  # ∂L/∂W = 2(3 − 10)·2 = −28: +28 is the sign mistake
    _settled(page, "flip the sign of the loss derivative")
    page.get_by_role("button", name="Reveal", exact=True).click()
    _settled(page, "Answer: -28")
    page.locator(".katex").first.wait_for(timeout=30_000)
    assert page.get_by_test_id("stException").count() == 0
    assert page.get_by_text("Score this session: 2 of 3 right").count() == 1
    page.screenshot(path=str(artifacts / "browser-lesson-revealed.png"), full_page=True)
    page.get_by_text("Open this network in the Inspector").scroll_into_view_if_needed()  # opened once revealed
    page.wait_for_timeout(500)
    page.screenshot(path=str(artifacts / "browser-lesson-state.png"))
    href = page.get_by_text("Open this network in the Inspector").get_attribute("href")
    page.goto(urljoin(page.url, href))  # the lesson's network, loaded by the Inspector from its link
    _settled(page, "gradients agree")
    assert page.get_by_text("loss mse = 49").count() >= 1


def test_the_inspector_quiz_tab_from_a_link(app_server, browser_page, artifacts):
    page = browser_page
    page.goto(f"{app_server}/inspector?quiz=0&q=2")
    _settled(page, "Score this session")
    assert page.get_by_role("tab", name="Quiz", selected=True).count() == 1
    page.get_by_role("button", name="Reveal", exact=True).click()
    _settled(page, "Answer:")
    page.locator(".katex").first.wait_for(timeout=30_000)
    assert page.get_by_test_id("stException").count() == 0
    page.get_by_text("Score this session").first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.screenshot(path=str(artifacts / "browser-inspector-quiz.png"))  # the page scrolls inside: the viewport
