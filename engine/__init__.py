"""Backprop Lab engine: everything computed, nothing drawn (never imports streamlit or plotly)."""
