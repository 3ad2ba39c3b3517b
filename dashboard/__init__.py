"""Streamlit dashboard: draws what the core computed; holds no signal processing."""
