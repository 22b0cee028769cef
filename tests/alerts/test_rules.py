"""Rules files: the shipped one is valid; bad files fail on load naming what to fix and where."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.rules import AnomalyRule, RulesError, ThresholdRule, default_rules_path, load_rules


def test_the_shipped_rules_load_and_cover_slos_and_anomalies() -> None:
    rules = load_rules()
    assert rules.version == 1 and Path(rules.source) == default_rules_path()
    kinds = {type(r) for r in rules.rules}
    assert kinds == {ThresholdRule, AnomalyRule}
    anomaly = rules.rule("rebuffer_anomaly")
    assert isinstance(anomaly, AnomalyRule)
    assert anomaly.min_volume == 25 and anomaly.for_windows == 2 and anomaly.detector == "des"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'version = 2\n[[rules]]\nname="a"\nkind="threshold"\nmetric="vst_p95_ms"\nabove=1',
            "reads rules format version 1, the file says 2",
        ),
        ('[[rules]]\nname="a"\nkind="threshold"\nmetric="vst_p95_ms"\nabove=1', "missing `version = 1`"),
        (
            'version = 1\n[[rules]]\nname="a"\nkind="threshold"\nmetric="vst_p96_ms"\nabove=1',
            "rules[0] (a).metric: Value error, unknown metric 'vst_p96_ms'",
        ),
        (
            'version = 1\n[[rules]]\nname="a"\nkind="threshold"\nmetric="vst_p95_ms"\n'
            'above=1\nresolve_below=2',
            "resolve_below (2.0) must not be above `above` (1.0)",
        ),
        (
            'version = 1\n[[rules]]\nname="a"\nkind="anomaly"\nmetric="vst_p95_ms"\nz=-1',
            "rules[0] (a).z: Input should be greater than 0",
        ),
        (
            'version = 1\n[[rules]]\nname="a"\nkind="anomaly"\nmetric="vst_p95_ms"\nslices=["oca"]',
            "unknown slice dimension(s) ['oca']",
        ),
        (
            'version = 1\n[[rules]]\nname="a"\nkind="anomaly"\nmetric="vst_p95_ms"\nthreshold=3',
            "rules[0] (a).threshold: Extra inputs are not permitted",
        ),
        (
            'version = 1\n[defaults]\nmin_volum = 3\n'
            '[[rules]]\nname="a"\nkind="anomaly"\nmetric="vst_p95_ms"',
            "defaults: unknown field(s) min_volum",
        ),
        (
            'version = 1\n[[rules]]\nname="a"\nkind="anomaly"\nmetric="vst_p95_ms"\n'
            '[[rules]]\nname="a"\nkind="anomaly"\nmetric="ebvs_pct"',
            "rule names must be unique; repeated: a",
        ),
        ('version = 1\n[[rules]]\nname="Bad Name"\nkind="anomaly"\nmetric="vst_p95_ms"', "lower_snake_case"),
        ("version = 1\nrules = 3", "rules must be an array of tables"),
        ("version = [", "is not valid TOML"),
    ],
)
def test_bad_files_fail_with_the_place_and_the_fix(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(RulesError) as error:
        load_rules(_write(tmp_path, text))
    assert message in str(error.value)
    assert str(tmp_path / "rules.toml") in str(error.value)


def test_a_missing_file_says_which_setting_names_it(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="set alerts.rules_file"):
        load_rules(tmp_path / "nope.toml")


def test_defaults_apply_only_where_the_rule_kind_has_the_field(tmp_path: Path) -> None:
    rules = load_rules(
        _write(
            tmp_path,
            "version = 1\n[defaults]\nz = 4.0\nmin_volume = 50\n"
            '[[rules]]\nname="slo"\nkind="threshold"\nmetric="ebvs_pct"\nabove=5\n'
            '[[rules]]\nname="anomaly"\nkind="anomaly"\nmetric="ebvs_pct"\nz=6\n',
        )
    )
    assert rules.rule("slo").min_volume == 50
    anomaly = rules.rule("anomaly")
    assert isinstance(anomaly, AnomalyRule) and anomaly.z == 6 and anomaly.min_volume == 50
