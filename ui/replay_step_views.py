"""What a replayed run looks like at step t, drawn by both replays (Compare's section and the Train page's player):
the loss curve with step t marked and, for 2-D sets, the decision boundary, every unit's output over the input
plane and −∂ℓ/∂x on the data points."""
from __future__ import annotations

import streamlit as st

from engine.train.boundary import boundary_grid, grid_bounds
from engine.train.model import targets
from engine.train.replay_views import input_gradients, neuron_maps
from ui import replay_plots as rp
from ui import train_plots as P

MAX_ARROWS = 300  # points drawn with their ∂ℓ/∂x arrow


def step_views(state, steps, key: str, branch_step: int | None = None, maps: bool = True) -> None:
    """state: an engine.train.replay.Replayed; steps: the run's stored steps (columns step, loss); maps: False
    leaves out the per-unit maps (one heatmap a unit: the heaviest figure, too slow to redraw every play frame)."""
    if "loss" in steps.columns:
        st.plotly_chart(rp.loss_at_step_figure(steps["step"].tolist(), steps["loss"].tolist(), state.step,
                                               branch_step), key=f"{key}_loss")
    data, cfg = state.data, state.cfg
    if data.input_size != 2:
        st.caption(f"The decision boundary, per-unit maps and ∂ℓ/∂x arrows are drawn for 2-D sets; this one has "
                   f"{data.input_size} inputs.")
        return
    bounds = grid_bounds(data.x_train)
    if data.task == "classification":
        grid = boundary_grid(state.model.state_dict(), cfg.layer_specs, bounds, loss=cfg.loss)
        fig = P.boundary_figure(grid, *P.first_points(data.x_train, data.y_train), state.step)
        st.plotly_chart(fig.update_layout(title=f"Decision boundary after step {state.step}"), key=f"{key}_boundary")
    if maps:
        st.plotly_chart(rp.neuron_maps_figure(neuron_maps(state.model, bounds)), key=f"{key}_maps")
    x, y = data.x_train[:MAX_ARROWS], data.y_train[:MAX_ARROWS]
    grad = input_gradients(state.model, cfg.loss, x, targets(cfg, data, y))
    st.plotly_chart(rp.arrows_figure(x.numpy(), y.numpy(), grad.numpy()), key=f"{key}_arrows")
