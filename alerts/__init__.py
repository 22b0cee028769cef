"""The alerts app over qoe.minute: rules, detectors, roll-up, lifecycle (pure) and the faust app,
warehouse and notifier edges. See alerts/README.md."""

__all__: list[str] = []
