"""The replay view in a real browser: Compare shows a moons run at step t (per-unit maps, arrows, health
heatmaps) and its branch form (submitting it is tested with AppTest in tests/test_page_compare.py)."""
from __future__ import annotations

import pytest

from engine.store.runs import RunStore
from engine.sweep.executors import expand_grid, run_sweep
from tests.browser.helpers import sidebar_link, start_training, wait_settled

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def one_run(app_home):
    base = {"dataset": "moons", "n_samples": 200, "layers": "6:tanh,4:relu,2:identity", "epochs": 3, "batch_size": 16,
            "stats_every": 4}  # every 4th step: the page fills in the rest (with the default budget, it may vary)
    result = run_sweep(expand_grid(base, {"optimizer": ["adam"], "lr": [0.02]}), RunStore(app_home / "runs.sqlite"))
    assert [p.status for p in result.points] == ["finished"]
    return result


def test_replay_view_and_branch(app_server, browser_page, one_run, artifacts):
    page = browser_page
    page.goto(app_server + "/")
    sidebar_link(page, "Compare").wait_for(timeout=60_000)
    page.goto(app_server + "/compare")
    page.get_by_text("Replay a run step by step, or branch it").wait_for(timeout=90_000)
    maps = page.locator(".st-key-replay_maps .main-svg").first
    maps.wait_for(timeout=60_000)
    maps.scroll_into_view_if_needed()
    wait_settled(page)
    page.screenshot(path=str(artifacts / "replay-moons-unit-maps.png"), full_page=True)
    page.locator(".st-key-replay_maps").first.screenshot(path=str(artifacts / "replay-moons-unit-maps-figure.png"))
    page.get_by_text("Gradient health").first.wait_for()
    page.get_by_role("button", name="Branch").wait_for()  # the form is there; AppTest submits it
    # the run recorded every k-th step; the page fills in every step by an exact replay, then redraws
    page.get_by_text("filled in after the run by an exact replay").first.wait_for(timeout=90_000)
    health = page.locator(".st-key-replay_health").first
    health.scroll_into_view_if_needed()
    wait_settled(page)
    health.screenshot(path=str(artifacts / "replay-health-filled.png"))


@pytest.fixture(scope="module")
def family(app_home, one_run):
    """one_run's parent and a branch of it at step 12 with a smaller learning rate (stored as the newest run)."""
    from engine.train.branch import prepare_branch
    from engine.train.loop import train
    from engine.train.recorder import record
    store = RunStore(app_home / "runs.sqlite")
    parent = one_run.points[0].run_id
    b = prepare_branch(store, parent, 12, {"lr": 0.002})
    for _ in record(train(b.cfg, data=b.data, resume=b.state), store, b.cfg, parent=(parent, 12)):
        pass
    return parent


STEP = 'input[type=range][aria-label="Step t"]'  # the one replay slider on Compare, and on Train


def _slider_value(page) -> int:
    return int(page.locator(STEP).first.input_value())


def test_compare_draws_the_fork_and_a_health_cell_click_jumps_the_replay(app_server, browser_page, family,
                                                                          artifacts):
    page = browser_page
    page.goto(app_server + "/compare")
    page.get_by_text("The run's family").first.wait_for(timeout=90_000)
    fork = page.locator(".st-key-replay_fork").first
    fork.scroll_into_view_if_needed()
    wait_settled(page)
    fork.screenshot(path=str(artifacts / "replay-compare-fork.png"))
    # the first run's panel, layer 1's cell at an early step: its (invisible) click target
    target = page.locator(".st-key-replay_multiples .scatterlayer path.point").nth(3)
    target.scroll_into_view_if_needed()
    page.wait_for_timeout(1000)
    before = _slider_value(page)
    box = target.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_timeout(300)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function(f"() => document.querySelector('{STEP}').value != '{before}'", timeout=60_000)
    assert _slider_value(page) < before  # a cell early in the run: the replay jumped back to its step
    wait_settled(page)
    page.locator(".st-key-replay_multiples").first.screenshot(path=str(artifacts / "replay-compare-multiples.png"))


def test_train_replay_plays_and_pauses(app_server, browser_page, artifacts):
    page = browser_page
    start_training(page, app_server, samples=200, epochs=3)
    page.get_by_text("4 · Replay it step by step").wait_for(timeout=120_000)
    page.get_by_text("The network after step 15").first.wait_for(timeout=60_000)
    assert _slider_value(page) == 15
    page.get_by_role("button", name="Play").click()  # at the end: starts over from 0, a step a frame
    page.wait_for_function(f"() => +document.querySelector('{STEP}').value >= 3", timeout=60_000)
    page.get_by_role("button", name="Pause").click()
    # the pause's full rerun has drawn once the button says Play again; runs are serial, so a frame in flight at
    # the click (each draws ~8 figures; seconds under load) landed before it, and none can start after it
    page.get_by_role("button", name="Play").wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    paused = _slider_value(page)
    page.wait_for_timeout(2500)
    assert 1 <= paused < 15 and _slider_value(page) == paused  # paused mid-run: the frames stopped
    page.locator("[class*='st-key-player_'][class*='_diagram']").first.scroll_into_view_if_needed()
    page.wait_for_timeout(1000)
    page.screenshot(path=str(artifacts / "replay-train-player.png"), full_page=True)
    for part in ("boundary", "maps", "arrows"):  # step t's views under the diagram (ui.replay_step_views)
        chart = page.locator(f"[class*='st-key-player_'][class*='_{part}']").first
        chart.scroll_into_view_if_needed()
        page.wait_for_timeout(800)
        chart.screenshot(path=str(artifacts / f"replay-train-{part}.png"))
