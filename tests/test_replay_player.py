"""The Train page's replay: slider and play/pause (AppTest), the diagram and histograms at step t on the run's
fixed scales, and the Inspector spec of a run at step t (its gradient equals autograd on the batch step t+1 uses)."""
from __future__ import annotations

import base64
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

from engine.inspector.trace import trace
from engine.store.runs import RunStore
from engine.train.config import TrainConfig
from engine.train.jobs import JOBS
from engine.train.loop import train
from engine.train.recorder import END_KINDS, record
from engine.train.replay import next_batch, replay
from ui.inspector_build import SPEC, _widget_values
from ui.replay_player import spec_at_step

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "train.py")
CFG = TrainConfig(dataset="moons", n_samples=200, layers="8:relu,8:tanh,2:identity", epochs=3, batch_size=32,
                  device="cpu", optimizer="sgd", lr=0.1, momentum=0.9)


def fresh_weights(cfg: TrainConfig, steps: int) -> list[torch.Tensor]:
    """W_l after `steps` steps of a fresh run (an independent path: no store, no replay)."""
    for ev in train(replace(cfg, max_steps=max(steps, 1))):
        if (ev.kind == "start" and steps == 0) or ev.kind in END_KINDS:  # start: the seeded init, before step 1
            return [m.weight.detach().clone() for m in ev.data["model"].linears]
    raise AssertionError("the run never ended")


def test_the_inspector_spec_at_step_t_has_the_gradient_step_t_plus_1_applies(tmp_path: Path):
    store = RunStore(tmp_path / "r.sqlite")
    run_id = [ev.data["run_id"] for ev in record(train(CFG), store, CFG) if ev.kind == "start"][0]
    rep = replay(store, run_id, 7)
    tr = trace(spec_at_step(rep, 256), numerical=False)
    x, _, target = next_batch(rep)
    model = rep.model
    loss = torch.nn.functional.cross_entropy(model(x), target)
    want = torch.autograd.grad(loss, [m.weight for m in model.linears])
    for lt, w, g in zip(tr.layers, model.linears, want, strict=True):
        assert torch.equal(lt.weight.float(), w.weight.detach())
        assert torch.allclose(lt.grads["weight"].autograd.float(), g, rtol=1e-5, atol=1e-7)
        assert torch.allclose(lt.grads["weight"].manual.float(), g, rtol=1e-4, atol=1e-6)
    assert len(tr.x) == 32 and tr.spec.name == f"run {run_id} after step 7"


def _figure(at: AppTest, title_start: str) -> dict:
    for chart in at.get("plotly_chart"):
        fig = json.loads(chart.proto.spec)
        if str(fig.get("layout", {}).get("title", {}).get("text", "")).startswith(title_start):
            return fig
    raise AssertionError(f"no chart titled {title_start!r}…")


def _values(v) -> list:
    """A Plotly JSON array: a list, or a base64 typed array {"dtype", "bdata"}."""
    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
    return list(v)


def _edge_bar(fig: dict) -> tuple[float, float]:
    bar = next(t for t in fig["data"] if t.get("marker", {}).get("showscale") and t["marker"]["colorbar"]["title"]
               ["text"] == "W")
    return bar["marker"]["cmin"], bar["marker"]["cmax"]


def _trained_page(tmp_path, monkeypatch, epochs: int, layers: str):
    """The Train page after training moons (200 points) with these layers to the end: (AppTest, job)."""
    monkeypatch.setenv("BACKPROP_LAB_HOME", str(tmp_path))
    at = AppTest.from_file(PAGE, default_timeout=90)
    at.run()
    for key, value in (("train_n", 200), ("train_epochs", epochs), ("train_layers", layers)):
        (at.text_input if key == "train_layers" else at.number_input)(key=key).set_value(value)
    at.button(key="train_submit").click().run()
    job = JOBS[at.session_state["train_job"]]
    deadline = time.monotonic() + 120
    while not job.done and time.monotonic() < deadline:
        time.sleep(0.1)
    at.run()
    return at, job


@pytest.fixture()
def finished_page(tmp_path, monkeypatch):
    at, job = _trained_page(tmp_path, monkeypatch, 3, "8:relu,8:tanh,2:identity")
    assert not at.exception and job.snapshot().status == "finished"
    return at, job


def test_the_slider_moves_the_diagram_and_histograms_on_one_scale_for_the_run(finished_page):
    at, job = finished_page
    slider = at.slider[0]
    assert slider.value == slider.max == 15  # 160 rows / 32 = 5 steps an epoch, 3 epochs
    scales = []
    for t in (0, 7, 15):
        at.slider[0].set_value(t).run()
        assert not at.exception
        scales.append(_edge_bar(_figure(at, f"The network after step {t}")))
        hist = _figure(at, f"Weights and gradients at step {t}")
        weights = fresh_weights(job.cfg, t)
        for layer, w in enumerate(weights):  # the W histogram's bars count this step's W on the fixed range
            bars = hist["data"][2 * layer]
            top = hist["layout"][f"xaxis{2 * layer + 1 if layer else ''}"]["range"][1]
            want, _ = np.histogram(np.clip(w.double().numpy().ravel(), -top, top), bins=30, range=(-top, top))
            counts = _values(bars["y"])
            assert counts == want.tolist(), (t, layer)
    assert scales[0] == scales[1] == scales[2]  # one colour range at every step: same colour, same value
    top = max(float(w.abs().max()) for t in (0, 7, 15) for w in fresh_weights(job.cfg, t))
    assert scales[0][1] >= top * (1 - 1e-6) and scales[0][0] == -scales[0][1]


def test_play_starts_over_from_the_end_advances_a_frame_per_run_and_pauses(finished_page):
    at, _ = finished_page
    at.button(key=next(b.key for b in at.button if b.key.endswith("_toggle"))).click().run()
    assert at.slider[0].value == 1  # play at the end starts over at 0; the first frame moves one step
    at.run()
    assert at.slider[0].value == 2
    pause = next(b for b in at.button if b.key.endswith("_toggle"))
    assert "Pause" in pause.label
    pause.click().run()
    at.run()
    assert at.slider[0].value == 2 and "Play" in next(b for b in at.button if b.key.endswith("_toggle")).label


MAPS, MAPS_WHILE_PLAYING = "Each unit's output over the input plane", "drawn when the replay is paused"


def _has_maps(at: AppTest) -> bool:
    try:
        return bool(_figure(at, MAPS))
    except AssertionError:
        return False


def test_play_frames_leave_the_unit_maps_out_and_say_so_and_a_pause_draws_them(finished_page):
    at, _ = finished_page
    assert _has_maps(at) and not any(MAPS_WHILE_PLAYING in c.value for c in at.caption)
    at.button(key=next(b.key for b in at.button if b.key.endswith("_toggle"))).click().run()
    assert not _has_maps(at) and any(MAPS_WHILE_PLAYING in c.value for c in at.caption)
    next(b for b in at.button if b.key.endswith("_toggle")).click().run()
    at.run()
    assert _has_maps(at) and not any(MAPS_WHILE_PLAYING in c.value for c in at.caption)


def test_open_in_the_inspector_loads_the_run_at_step_t(finished_page, monkeypatch):
    at, job = finished_page
    switched = []  # the page alone has no st.navigation to switch within: record where the button goes
    monkeypatch.setattr(st, "switch_page", switched.append)
    at.slider[0].set_value(7).run()
    at.button(key=next(b.key for b in at.button if b.key.endswith("_inspect"))).click().run()
    assert not at.exception and switched == ["pages/inspector.py"]
    spec = at.session_state[SPEC]
    name = f"run {job.snapshot().run_id} after step 7"
    assert spec["name"] == name and len(spec["x"]) == 8
    for layer, w in zip(spec["layers"], fresh_weights(job.cfg, 7), strict=True):
        assert torch.equal(torch.tensor(layer["weight"], dtype=torch.float32), w)
    inspector = AppTest.from_file(str(Path(PAGE).with_name("inspector.py")), default_timeout=90)
    left = {SPEC: spec, "insp_table": at.session_state["insp_table"], **_widget_values(spec)}
    for k, v in left.items():  # what load_spec left in this session, as the Inspector page finds it
        inspector.session_state[k] = v
    inspector.run()
    assert not inspector.exception and not inspector.error
    assert any(name in m.value for m in inspector.markdown), [m.value[:120] for m in inspector.markdown][:5]


def _grid(trace_: dict) -> torch.Tensor:
    """The heatmap's grid points (n·n, 2), row r = (x[r % n], y[r // n]): z[i][j] sits at (x[j], y[i])."""
    xs, ys = torch.tensor(_values(trace_["x"])), torch.tensor(_values(trace_["y"]))
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


def _z(trace_: dict) -> torch.Tensor:
    z = trace_["z"]  # rows of numbers, or one typed array with its shape "n, n"
    if isinstance(z, list):
        return torch.tensor(np.array([_values(row) for row in z]))
    return torch.tensor(_values(z)).reshape([int(d) for d in str(z["shape"]).split(",")])


def test_the_slider_moves_the_loss_mark_boundary_and_unit_maps_to_step_t(finished_page):
    at, job = finished_page
    run_id = job.snapshot().run_id
    store = RunStore()
    steps = store.steps([run_id])
    for t in (3, 11):
        at.slider[0].set_value(t).run()
        assert not at.exception
        mark = next(tr for tr in _figure(at, "Loss; the replayed step marked")["data"] if tr.get("name") == "loss at t")
        want = float(steps.loc[steps["step"] == t, "loss"].iloc[0])
        assert _values(mark["x"]) == [t] and _values(mark["y"]) == pytest.approx([want])
        model = replay(store, run_id, t).model
        w = [(m.weight.detach().double(), m.bias.detach().double()) for m in model.linears]
        heat = _figure(at, f"Decision boundary after step {t}")["data"][0]
        pts = _grid(heat).double()
        a1 = torch.relu(pts @ w[0][0].T + w[0][1])  # 8:relu, 8:tanh, 2:identity by hand, float64
        a2 = torch.tanh(a1 @ w[1][0].T + w[1][1])
        z3 = a2 @ w[2][0].T + w[2][1]
        p1 = torch.softmax(z3, dim=1)[:, 1].reshape(len(_values(heat["y"])), -1)
        assert torch.allclose(_z(heat).double(), p1, atol=1e-5)
        maps = [tr for tr in _figure(at, "Each unit's output over the input plane")["data"]]
        assert len(maps) == 8 + 8 + 2
        pts = _grid(maps[0]).double()
        a1, n = torch.relu(pts @ w[0][0].T + w[0][1]), len(_values(maps[0]["y"]))
        a2 = torch.tanh(a1 @ w[1][0].T + w[1][1])
        for unit, tr in enumerate(maps):
            layer, u = (0, unit) if unit < 8 else (1, unit - 8) if unit < 16 else (2, unit - 16)
            want = (a1, a2, a2 @ w[2][0].T + w[2][1])[layer][:, u].reshape(n, n)
            assert torch.allclose(_z(tr).double(), want, atol=1e-5), (t, layer, u)
        points = {tr["name"]: tr for tr in _figure(at, "−∂ℓ/∂x")["data"] if tr["name"].startswith("class")}
        assert sorted(points) == ["class 0", "class 1"]  # in the class colours of the boundary above
        assert sum(len(_values(tr["x"])) for tr in points.values()) == 160  # every training row (≤ 300 drawn)
        assert points["class 0"]["marker"]["color"] == heat["colorscale"][0][1]


def test_a_run_with_other_layers_replays_the_parts_that_apply_and_says_what_is_not_shown(tmp_path, monkeypatch):
    at, job = _trained_page(tmp_path, monkeypatch, 1, "8:relu,ln,2:identity")
    at.slider[0].set_value(2).run()
    assert not at.exception and not at.error
    assert any("linear layers" in c.value and "layernorm" in c.value for c in at.caption)
    run_id = job.snapshot().run_id
    model = replay(RunStore(), run_id, 2).model.eval()
    heat = _figure(at, "Decision boundary after step 2")["data"][0]
    pts = _grid(heat)
    p1 = torch.softmax(model(pts).detach(), dim=1)[:, 1].reshape(len(_values(heat["y"])), -1)
    assert torch.allclose(_z(heat).float(), p1, atol=1e-5)
    assert not any(str(json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "")).startswith("The network")
                   for c in at.get("plotly_chart"))


def test_a_pause_click_delivered_twice_still_pauses(monkeypatch):
    """Streamlit can deliver one button trigger twice (kept across a fragment's auto-rerun and then the full
    rerun); the button sets what it said instead of flipping, so Pause twice is still paused (a flip resumed
    play, and the browser test's pause ran on to the last step)."""
    import ui.replay_player as rp
    state = {"k_play": True, "k_t": 4}
    monkeypatch.setattr(rp.st, "session_state", state)
    rp._set_playing("k", 15, False)
    rp._set_playing("k", 15, False)
    assert state == {"k_play": False, "k_t": 4}
    rp._set_playing("k", 15, True)
    assert state["k_play"] and state["k_t"] == 4
    state["k_t"] = 15
    rp._set_playing("k", 15, True)  # Play at the last step starts over
    assert state == {"k_play": True, "k_t": 0}
