"""pages/optimizers.py driven headless: the numbers it shows are the closed form's and the engine's."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.core.optim import LESSON_OPTIMIZERS
from engine.lessons import surfaces as S

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "optimizers.py")
K = 28 / 3  # J'' for x = y = [1, 2, 3], by hand
TAB_1D, TAB_2D = "1-D: one weight", "2-D: loss surfaces"


@pytest.fixture
def at() -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=60)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


@pytest.fixture
def at2() -> AppTest:
    """The page with its 2-D tab open (tabs are lazy: only the open one runs)."""
    app = AppTest.from_file(PAGE, default_timeout=60)
    app.session_state["opt_tab"] = TAB_2D
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def _metric(app: AppTest, label_start: str) -> str:
    return next(m.value for m in app.metric if m.label.startswith(label_start))


def _table(app: AppTest):
    return app.dataframe[0].value


def test_default_view_draws_plotly_charts_and_no_warning(at):
    assert len(at.get("plotly_chart")) == 2  # 1-D curve + cost per step; the 2-D tab is closed, so not drawn
    assert [w.value for w in at.warning] == []
    assert len(at.latex) == 2  # J/J' and the closed form
    at.session_state["opt_tab"] = TAB_2D
    at.run()
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    assert len(titles) == 2 and "paths up to step 500" in titles[0] and "Loss per step" in titles[1]
    assert [w.value for w in at.warning] == []
    assert len(at.latex) >= 1 + len(LESSON_OPTIMIZERS)  # f, one rule per optimizer


def test_settings_survive_a_visit_to_the_other_tab(at2):
    at2.selectbox(key="surface").set_value("beale").run()
    at2.slider(key="show_step_500").set_value(42).run()
    at2.session_state["opt_tab"] = TAB_1D
    at2.run()
    at2.number_input(key="theta0").set_value(3.0).run()
    assert not at2.exception and len(at2.get("slider")) == 0  # the 2-D widgets are not drawn
    at2.session_state["opt_tab"] = TAB_2D
    at2.run()
    assert at2.selectbox(key="surface").value == "beale" and at2.slider(key="show_step_500").value == 42
    at2.session_state["opt_tab"] = TAB_1D
    at2.run()
    assert at2.number_input(key="theta0").value == 3.0


def test_final_theta_equals_the_closed_form_for_the_defaults(at):
    theta0, lr, steps = -2.0, 0.05, 20  # the widgets' defaults
    assert (at.number_input(key="theta0").value, at.number_input(key="lr_1d").value,
            at.number_input(key="steps_1d").value) == (theta0, lr, steps)
    expected = 1 + (1 - lr * K) ** steps * (theta0 - 1)
    assert float(_metric(at, "θ after 20 steps")) == pytest.approx(expected, abs=1e-6)
    assert float(_metric(at, "J(θ_20)")) == pytest.approx(14 / 3 * (expected - 1) ** 2, rel=1e-5)
    assert float(_metric(at, "factor")) == pytest.approx(1 - lr * K, abs=1e-4)


def test_edited_start_and_lr_follow_the_closed_form(at):
    at.number_input(key="theta0").set_value(4.0)
    at.number_input(key="lr_1d").set_value(0.15).run()  # overshooting but converging: factor −0.4
    assert not at.exception
    assert float(_metric(at, "θ after")) == pytest.approx(1 + (1 - 0.15 * K) ** 20 * 3.0, abs=1e-6)
    assert any("overshoots" in i.value for i in at.info)


def test_diverging_lr_warns_with_the_critical_value_and_stops(at):
    at.number_input(key="lr_1d").set_value(0.3)
    at.number_input(key="steps_1d").set_value(100).run()
    assert not at.exception
    texts = " ".join(w.value for w in at.warning)
    assert f"{6 / 28:.4f}" in texts and "diverges" in texts
    # |θ_t − 1| = 3·1.8^t passes 1e6 at t = 22: the page stops there and says so
    assert "Stopped at step 22" in texts
    theta = float(_metric(at, "θ after 21 steps"))
    assert theta == pytest.approx(1 + (1 - 0.3 * K) ** 21 * (-3.0), rel=1e-9)


@pytest.mark.parametrize("name", list(S.SURFACES))
def test_each_surface_table_equals_the_engine(at2, name):
    at2.selectbox(key="surface").set_value(name).run()
    assert not at2.exception, [e.value for e in at2.exception]
    surface = S.SURFACES[name]
    table = _table(at2)
    assert len(table) == len(LESSON_OPTIMIZERS)
    trajs = S.run_all(surface, surface.lrs, surface.start, 500)
    for row, (opt, traj) in zip(table.itertuples(index=False), trajs.items(), strict=True):
        (x, y), loss, t = traj.at(500)
        assert (row.lr, row.step, row.x, row.y, row[5]) == (surface.lrs[opt], t, x, y, loss)
    if name == "saddle":
        assert any("left the plot" in w.value for w in at2.warning)


def test_step_slider_changes_what_is_shown(at2):
    slider = at2.slider(key="show_step_500")
    assert slider.value == 500
    slider.set_value(10).run()
    assert not at2.exception
    surface = S.SURFACES["quadratic"]
    table = _table(at2)
    assert list(table["step"]) == [10] * len(LESSON_OPTIMIZERS)
    sgd = S.run_optimizer(surface, "sgd", surface.lrs["sgd"], surface.start, 500)
    assert (table["x"][0], table["y"][0]) == sgd.points[10]
    contour = at2.get("plotly_chart")[0].proto.spec
    assert "paths up to step 10" in contour


def test_too_large_lr_for_one_optimizer_is_stopped_and_reported(at2):
    at2.number_input(key="lr_quadratic_sgd").set_value(0.1).run()  # > 2/25: y grows ×1.5 per step
    assert not at2.exception
    assert any("SGD: left the plot" in w.value for w in at2.warning)
    assert _table(at2)["step"][0] == S.run_optimizer(S.SURFACES["quadratic"], "sgd", 0.1, (-4.5, 1.5), 500).at(500)[2]


def test_moved_start_point_is_used(at2):
    at2.selectbox(key="surface").set_value("himmelblau").run()
    at2.number_input(key="x0_himmelblau").set_value(3.5)
    at2.number_input(key="y0_himmelblau").set_value(-3.0).run()
    assert not at2.exception
    surface = S.SURFACES["himmelblau"]
    adam = S.run_optimizer(surface, "adam", surface.lrs["adam"], (3.5, -3.0), 500)
    assert _table(at2)["x"][5] == adam.points[-1][0]


def test_no_optimizer_selected_shows_an_error_not_a_traceback(at2):
    at2.multiselect(key="optimizers").set_value([]).run()
    assert not at2.exception
    assert any("pick at least one" in e.value for e in at2.error)
