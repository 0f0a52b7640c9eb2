"""The health heatmaps hold exactly the stats the run store holds, layer by step."""
from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import numpy as np

from engine.store.runs import RunStore
from engine.train.config import TrainConfig
from engine.train.health_map import HEATMAP_KEYS, health_maps, log_ratio
from engine.train.loop import train
from engine.train.recorder import record


def test_every_heatmap_cell_is_the_stored_stat(tmp_path: Path):
    cfg = TrainConfig(dataset="moons", n_samples=200, layers="8:relu,8:tanh,2:identity", epochs=3, batch_size=32,
                      stats_every=2, device="cpu")
    store = RunStore(tmp_path / "r.sqlite")
    run_id = [ev.data["run_id"] for ev in record(train(cfg), store, cfg) if ev.kind == "start"][0]
    maps = health_maps(store.layer_stats([run_id]), run_id)
    raw = sqlite3.connect(tmp_path / "r.sqlite").execute(
        "SELECT step, layer, key, value FROM layer_stats WHERE run_id = ?", (run_id,)).fetchall()
    stored = {(s, layer, k): v for s, layer, k, v in raw}
    for key in HEATMAP_KEYS:
        m = maps[key]
        assert m.layers == [1, 2, 3] and m.steps == list(range(1, 16, 2))  # 15 steps; stats on steps 1, 3, …
        for i, layer in enumerate(m.layers):
            for j, step in enumerate(m.steps):
                want = stored[(step, layer, key)]
                assert m.values[i, j] == want or (want is None and math.isnan(m.values[i, j]))
    assert np.all(maps["saturated_fraction"].values[0] == 0)  # a ReLU layer never counts as saturated


def test_the_update_ratio_colour_is_centred_on_1e_3():
    got = log_ratio(np.array([[1e-3, 1e-2, 1e-5, 0.0]]))
    assert np.allclose(got[0, :3], [0.0, 1.0, -2.0]) and math.isnan(got[0, 3])
