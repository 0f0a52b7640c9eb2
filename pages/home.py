"""Home: what Backprop Lab is, the device in use, and a link to each page."""
from pathlib import Path

import streamlit as st

from ui.bootstrap import ensure_navigation
from ui.warmup import device_caption

ensure_navigation()

ROOT = Path(__file__).resolve().parent.parent
LINKS = [  # (page script, label, icon, what it shows)
    ("pages/inspector.py", "Inspector", ":material/biotech:",
     "One forward and backward pass: every layer's z and a, and ∂L/∂W, ∂L/∂b, δ by the chain rule, by autograd "
     "and by finite differences — with the equations and their shapes."),
    ("pages/train.py", "Train", ":material/model_training:",
     "Train on synthetic data, a CSV or real MNIST, with live curves and per-layer gradient health."),
    ("pages/compare.py", "Compare", ":material/stacked_line_chart:",
     "Stored runs side by side: overlays, HiPlot parallel coordinates, sweeps of optimizers × learning rates."),
    ("pages/optimizers.py", "Optimizers", ":material/landscape:",
     "Gradient descent on 1-D and 2-D loss surfaces: SGD, momentum, Nesterov, Adagrad, RMSprop and Adam."),
    ("pages/activations.py", "Activations", ":material/show_chart:",
     "Each activation and its derivative, hand-written against torch, with dead and saturated regions."),
    ("pages/lessons.py", "Lessons", ":material/school:",
     "The worked examples step by step — one weight, a ReLU network, a linear chain, an SGD step, gradient "
     "descent — predicting each number before it is revealed."),
]

st.title("Backprop Lab")
st.markdown(
    "**Backprop Lab shows backpropagation happening.** Build a small network and see every layer's gradients "
    "computed three independent ways — the hand-derived chain rule, PyTorch autograd and finite differences — "
    "side by side with the error between them; then train networks and compare optimizers."
)
device_caption("Computing on **{device}** — every random draw is seeded from the sidebar's seed.", key="home_device")

cols = st.columns(2)
for i, (script, label, icon, blurb) in enumerate(LINKS):
    if not (ROOT / script).exists():
        continue
    with cols[i % 2].container(border=True):
        st.page_link(script, label=label, icon=icon)
        st.caption(blurb)

st.markdown(
    "**Notation.** Layer l computes $z_l = a_{l-1} W_l^\\top + b_l$ and $a_l = \\varphi_l(z_l)$ with $a_0 = x$; "
    "$W_l$ is (out × in) like `torch.nn.Linear` and batches are rows. $\\delta_l = \\partial L/\\partial z_l$, "
    "$\\partial L/\\partial W_l = \\delta_l^\\top a_{l-1}$, $\\partial L/\\partial b_l = \\sum_{rows} \\delta_l$. "
    "Losses use the mean over the batch, as `nn.MSELoss` and `nn.CrossEntropyLoss` do."
)
