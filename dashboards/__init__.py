"""Dashboards of playpulse: Grafana dashboards as code (specs → grafana-foundation-sdk → JSON and
provisioning, `playpulse dashboards build|publish`) and the local web dashboard
(`playpulse dashboards serve`, started by `playpulse up`). See dashboards/README.md."""
