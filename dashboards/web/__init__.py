"""The local web dashboard (Starlette + plotly.js from the installed plotly package)."""
