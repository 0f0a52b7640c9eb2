"""Optimizers: gradient descent on a 1-D cost and on 2-D loss surfaces, several optimizers at once."""
from __future__ import annotations

import streamlit as st

from engine.core.optim import LESSON_OPTIMIZERS, UPDATE_RULES
from engine.lessons import surfaces as S
from ui import optimizer_plots as P
from ui.bootstrap import ensure_navigation
from ui.choice import label_of
from ui.kept import remember, remembered

ensure_navigation()

HYPER_NOTE = ("Settings besides η: momentum and Nesterov μ = 0.9, τ = 0; Adagrad γ = 0, ε = 1e-10; "
              "RMSprop α = 0.99, ε = 1e-8; Adam β₁ = 0.9, β₂ = 0.999, ε = 1e-8. "
              r"Here $g_t = \nabla f(\theta_{t-1})$ from the surface's hand-written gradient.")


@st.cache_data(max_entries=64)
def _descent(theta0: float, lr: float, steps: int) -> tuple[S.Descent1D, tuple[list[float], list[float]]]:
    descent = S.descend_1d(theta0, lr, steps)
    return descent, S.cost_1d_curve(descent)


@st.cache_data(max_entries=32)
def _surface_grid(name: str) -> tuple[list[float], list[float], list[list[float]]]:
    xs, ys, z = S.grid(S.SURFACES[name])
    return xs.tolist(), ys.tolist(), z.tolist()


@st.cache_data(max_entries=64)
def _trajectories(name: str, lrs: tuple[tuple[str, float], ...], start: tuple[float, float],
                  steps: int) -> dict[str, S.Trajectory]:
    return S.run_all(S.SURFACES[name], dict(lrs), start, steps)


def _lr_verdict(lr: float) -> None:
    """Say which of the three regimes η is in: monotone, zig-zag, or divergent."""
    crit, factor = S.critical_lr_1d(), S.contraction_1d(lr)
    if lr > crit:
        st.warning(f"η = {lr:g} is above the critical learning rate 2/J'' = 6/28 ≈ {crit:.4f}: every step "
                   f"multiplies the distance to θ = 1 by |1 − 28η/3| = {abs(factor):.3f} > 1, so θ zig-zags "
                   f"ever farther out and diverges. Use η < {crit:.4f}.")
    elif lr == crit:
        st.warning(f"η = {crit:.4f} exactly: the factor is −1, so θ bounces between two points for ever.")
    elif factor < 0:
        st.info(f"η > 3/28 ≈ {crit / 2:.4f}: each step overshoots θ = 1 (factor {factor:.3f} < 0), "
                "but |factor| < 1 so the zig-zag still shrinks.")


def one_d() -> None:
    """J(θ) = mean((θx − y)²) with its gradient-descent steps and cost per iteration."""
    st.markdown("Fit one weight θ to the data x = y = [1, 2, 3]. The cost and its derivative:")
    st.latex(r"J(\theta)=\frac13\sum_{i=1}^{3}(\theta x_i-y_i)^2=\tfrac{14}{3}(\theta-1)^2,\qquad "
             r"J'(\theta)=\frac13\sum_{i=1}^{3}2x_i(\theta x_i-y_i)=\tfrac{28}{3}(\theta-1)")
    c1, c2, c3 = st.columns(3)
    theta0 = c1.number_input("Start θ₀", -10.0, 10.0, -2.0, 0.5, key=remembered("theta0"))
    lr = c2.number_input("Learning rate η", 0.001, 1.0, 0.05, 0.01, format="%.3f", key=remembered("lr_1d"),
                         help=f"Above 2/J'' = 6/28 ≈ {S.critical_lr_1d():.4f} gradient descent diverges.")
    steps = c3.number_input("Steps", 1, 200, 20, 1, key=remembered("steps_1d"))
    remember("theta0", "lr_1d", "steps_1d")
    descent, curve = _descent(float(theta0), float(lr), int(steps))
    _lr_verdict(float(lr))
    if descent.diverged_at is not None:
        st.warning(f"Stopped at step {descent.diverged_at}: |θ − 1| passed {S.HUGE:g}, so the remaining steps "
                   "are not plotted (they would only be larger, then overflow to inf).")
    t = len(descent.thetas) - 1
    m1, m2, m3 = st.columns(3)
    m1.metric(f"θ after {t} steps", f"{descent.thetas[-1]:.6f}")
    m2.metric(f"J(θ_{t})", f"{descent.costs[-1]:.6g}")
    m3.metric("factor 1 − 28η/3 per step", f"{S.contraction_1d(float(lr)):.4f}")
    st.latex(r"\theta_{t}=\theta_{t-1}-\eta J'(\theta_{t-1})\;\Rightarrow\;"
             r"\theta_t-1=\Big(1-\tfrac{28}{3}\eta\Big)^{t}(\theta_0-1)")
    st.caption(f"Left: each dot is θ_t on the parabola, each red arrow one step θ_(t−1) → θ_t "
               f"(the first {P.MAX_ARROWS}); the star is the minimum. Right: the cost after each step.")
    left, right = st.columns(2)
    left.plotly_chart(P.cost_curve_figure(descent, curve), key="cost_curve")
    right.plotly_chart(P.cost_per_step_figure(descent), key="cost_per_step")


def _surface_controls() -> tuple[S.Surface, tuple[float, float], int, list[str]]:
    """Surface, start point, number of steps and the optimizers to draw."""
    c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
    name = c1.selectbox("Surface", list(S.SURFACES), format_func=label_of({n: s.label for n, s in S.SURFACES.items()}),
                        key=remembered("surface"))
    surface = S.SURFACES[name]
    # Keys carry the surface name so each surface opens on its own default start.
    x0 = c2.number_input("Start x", *surface.x_range, surface.start[0], 0.1, key=remembered(f"x0_{name}"))
    y0 = c3.number_input("Start y", *surface.y_range, surface.start[1], 0.1, key=remembered(f"y0_{name}"))
    steps = c4.number_input("Steps", 10, 2000, 500, 10, key=remembered("steps_2d"))
    chosen = st.multiselect("Optimizers", list(LESSON_OPTIMIZERS), default=list(LESSON_OPTIMIZERS),
                            format_func=label_of(P.LABELS), key=remembered("optimizers"))
    remember("surface", f"x0_{name}", f"y0_{name}", "steps_2d", "optimizers")
    return surface, (float(x0), float(y0)), int(steps), chosen


def _learning_rates(surface: S.Surface, chosen: list[str]) -> dict[str, float]:
    """One η per optimizer, defaulting to a value that behaves well on this surface."""
    lrs = {}
    with st.expander(f"Learning rates (defaults tuned for {surface.label})"):
        cols = st.columns(3)
        for i, name in enumerate(chosen):
            lrs[name] = float(cols[i % 3].number_input(P.LABELS[name], 1e-6, 10.0, surface.lrs[name],
                                                       format="%g", key=remembered(f"lr_{surface.name}_{name}")))
            remember(f"lr_{surface.name}_{name}")
    return lrs


def two_d() -> None:
    """Contours of a 2-D surface with each optimizer's path, a step slider, a table and the update rules."""
    surface, start, steps, chosen = _surface_controls()
    st.latex(surface.latex)
    st.caption(surface.note)
    if not chosen:
        st.error("No optimizer selected: pick at least one in “Optimizers” above.")
        return
    lrs = _learning_rates(surface, chosen)
    trajs = _trajectories(surface.name, tuple(lrs.items()), start, steps)
    stopped = [f"{P.LABELS[n]}: {t.reason}" for n, t in trajs.items() if t.stopped_at is not None]
    if stopped:
        advice = ("Lower its learning rate under “Learning rates”." if surface.minima else
                  "f has no minimum here: a run that escapes the saddle slides downhill for ever.")
        st.warning("Stopped, not plotted beyond that step — " + "; ".join(stopped) + ". " + advice)
    shown = st.slider("Show the paths up to step", 0, steps, steps, key=remembered(f"show_step_{steps}"))
    remember(f"show_step_{steps}")
    xs, ys, z = _surface_grid(surface.name)
    left, right = st.columns([3, 2])
    left.plotly_chart(P.contour_figure(surface, xs, ys, z, trajs, shown), key="contour")
    right.plotly_chart(P.loss_per_step_figure(trajs, shown, log=bool(surface.minima)), key="loss_per_step")
    st.markdown(f"**Where each optimizer is at step {shown}** (the last step run, if it stopped earlier)")
    st.dataframe(P.trajectory_table(trajs, shown), hide_index=True, column_config=P.table_column_config())
    st.markdown("**Update rules**")
    cols = st.columns(2)
    for i, name in enumerate(chosen):
        cols[i % 2].markdown(f"*{P.LABELS[name]}*")
        cols[i % 2].latex(UPDATE_RULES[name])
    st.caption(HYPER_NOTE)


st.title("Optimizers — gradient descent you can watch")
# Lazy tabs: only the open one runs and is sent, so opening the page does not draw the hidden 2-D contour
# (~216 KB of figure, the page's slowest chart to paint in the browser); widget values are kept (ui/kept.py).
tab_1d, tab_2d = st.tabs(["1-D: one weight", "2-D: loss surfaces"], key="opt_tab", on_change="rerun")
if tab_1d.open:
    with tab_1d:
        one_d()
if tab_2d.open:
    with tab_2d:
        two_d()
