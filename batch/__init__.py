"""The nightly PySpark jobs and their runner: sessions, engagement, A/B readouts, forecasts, fill plans.

Start at `batch.jobs` (the job interface and registry) and `batch.runner` (stage → validate →
publish); `batch/README.md` documents the design choices.
"""
