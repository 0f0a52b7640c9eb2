"""Home: what Backprop Lab is, and a link to each page."""
import streamlit as st

from ui.bootstrap import ensure_navigation

ensure_navigation()

st.title("Backprop Lab")
st.markdown(
    "Backprop Lab shows backpropagation happening: build a small network and see every layer's forward "
    "values and its gradients computed three ways — the hand-derived chain rule, PyTorch autograd and "
    "finite differences — side by side. Then train on synthetic data or MNIST and compare optimizers."
)
st.info("The pages are being built: the engine behind them is ready — try `python -m engine inspect --preset line`.")
