"""What several browser tests do: read and follow the sidebar's menu (our own st.page_link links, ui/sidebar.py;
Streamlit's automatic stSidebarNav menu is off)."""
from __future__ import annotations


def sidebar_nav(page) -> list[str]:
    """The titles of the sidebar's page links, in order (a link's text is its icon's name, then its title).
    Streamlit draws page links as grey skeletons until the script run that made them ends: wait for them."""
    page.get_by_test_id("stSidebar").locator("a").first.wait_for(timeout=60_000)
    page.wait_for_function("() => !document.querySelector('[data-testid=stSidebar] [data-testid=stSkeleton]')",
                           timeout=60_000)
    return [a.inner_text().split("\n")[-1].strip() for a in page.get_by_test_id("stSidebar").locator("a").all()]


def sidebar_link(page, title: str):
    """The sidebar's link to the page titled `title` (a Playwright locator: wait_for it, click it)."""
    return page.get_by_test_id("stSidebar").locator("a").filter(has_text=title).first


def wait_settled(page, timeout: int = 60_000) -> None:
    """Until no element is stale (Streamlit fades every element of a rerun in progress, data-stale="true"),
    so a screenshot shows the finished picture in its real colours."""
    page.wait_for_function("() => !document.querySelector('[data-stale=true]')", timeout=timeout)
    page.wait_for_timeout(500)  # Plotly's own draw after the last message


def start_training(page, url: str, samples: int, epochs: int) -> None:
    """Open the Train page, set the synthetic set's size and the epochs, and press Start training."""
    page.goto(f"{url}/train")
    page.get_by_text("Start training").first.wait_for(timeout=60_000)
    for label, value in (("Samples n", str(samples)), ("Epochs", str(epochs))):
        box = page.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Tab")
    page.get_by_role("button", name="Start training").click()
