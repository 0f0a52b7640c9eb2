"""Figure builders (data in, figure out) and small reusable Streamlit widgets."""
