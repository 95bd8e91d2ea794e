"""Validation: each rule with a bad config; every problem names file, field, value and rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from shoplab.analysis.metrics import metric_names
from shoplab.cli import app
from shoplab.experiments import ConfigError, load_experiments, validate
from shoplab.experiments.errors import Problem
from shoplab.experiments.validation import SKIPPED_METRICS, SKIPPED_PARAMS
from shoplab.simulator.params import PARAM_BOUNDS
from tests.experiments.conftest import CATALOG, LAYERS, WriteConfigs, experiment_doc


def _problems(root: Path, lock: Path | None = None) -> list[Problem]:
    report = validate(root, metrics=CATALOG, param_bounds=PARAM_BOUNDS,
                      lock_path=lock or root / "lock.json", write_lock=lock is not None)
    assert report.skipped == ()
    return list(report.problems)


def _one(problems: list[Problem], file: str, field: str) -> Problem:
    hits = [p for p in problems if p.file == file and p.field == field]
    assert len(hits) == 1, problems
    return hits[0]


BAD: list[tuple[str, dict[str, Any], str, Any, str]] = [
    # (case, overrides of exp.yaml, field, value, words of the rule)
    ("unknown field", {"trafic": 0.5}, "trafic", 0.5, "Extra inputs are not permitted"),
    ("string weight (strict)", {"variants": [{"key": "a", "weight": "0.5"},
                                             {"key": "b", "weight": 0.5}]},
     "variants.0.weight", "0.5", "valid number"),
    ("weights sum", {"variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.6}]},
     "variants[].weight", [0.5, 0.6], "must sum to 1"),
    ("end before start", {"end": "2026-01-01T00:00:00Z"}, "end", "2026-01-01T00:00:00Z",
     "must be after start"),
    ("naive datetime", {"start": "2026-01-08T00:00:00"}, "start", "2026-01-08T00:00:00",
     "must be timezone-aware UTC"),
    ("unknown layer", {"layer": "ranking"}, "layer", "ranking", "must be one of the layers"),
    ("unknown metric", {"metrics": {"primary": "clickrate"}}, "metrics.primary", "clickrate",
     "must be a metric of the analysis catalog"),
    ("unknown guardrail", {"metrics": {"primary": "ctr", "guardrails": ["refunds"]}},
     "metrics.guardrails[0]", "refunds", "must be a metric of the analysis catalog"),
    ("bad status", {"status": "live"}, "status", "live", "'draft', 'running' or 'stopped'"),
    ("bucket range", {"buckets": [9000, 12000]}, "buckets", [9000, 12000],
     "0 <= start < end <= 10000"),
    ("both buckets and traffic", {"traffic": 0.3}, "buckets|traffic", [[0, 5000], 0.3],
     "exactly one of buckets and traffic"),
    ("allowlist variant", {"allowlist": {5: "nope"}}, "allowlist.5", "nope",
     "must be one of the variant keys"),
    ("key vs file name", {"key": "other_key"}, "key", "other_key", "must equal the file name"),
    ("hash version", {"hash_version": 3}, "hash_version", 3, "Input should be 1 or 2"),
    ("unknown country", {"targeting": {"countries": ["ID", "IDN"]}}, "targeting.countries[1]",
     "IDN", "must be one of ['ID'"),
    ("unknown platform", {"targeting": {"platforms": ["androd"]}}, "targeting.platforms[0]",
     "androd", "must be one of ['android'"),
    ("stage param out of bounds",
     {"variants": [{"key": "a", "weight": 0.5, "params": {"mix_video_share": 1.5}},
                   {"key": "b", "weight": 0.5}]},
     "variants[0].params.mix_video_share", 1.5, "must be a number within [0, 1]"),
    ("stage param as text",
     {"variants": [{"key": "a", "weight": 0.5, "params": {"recall_size": "400"}},
                   {"key": "b", "weight": 0.5}]},
     "variants[0].params.recall_size", "400", "must be a number within"),
    ("traffic off the bucket grid", {"buckets": None, "traffic": 0.12345}, "traffic", 0.12345,
     "multiple of 1/10000"),
]


@pytest.mark.parametrize(("case", "over", "field", "value", "rule"), BAD, ids=[b[0] for b in BAD])
def test_each_rule_names_file_field_value(
    write_configs: WriteConfigs, case: str, over: dict[str, Any], field: str, value: Any,
    rule: str
) -> None:
    doc = {**experiment_doc("exp"), **over}
    root = write_configs(experiment_doc("fine", layer="mix"), raw={"exp.yaml": yaml.safe_dump(doc)})
    problems = _problems(root)
    p = _one(problems, "exp.yaml", field)
    assert p.value == value
    assert rule in p.rule
    text = str(p)
    assert "exp.yaml" in text
    assert field in text
    assert repr(value) in text
    assert not [q for q in problems if q.file == "fine.yaml"]


def test_overlapping_ranges_in_a_layer(write_configs: WriteConfigs) -> None:
    root = write_configs(
        experiment_doc("one", buckets=[0, 5000]),
        experiment_doc("two", buckets=[4000, 6000]),
        experiment_doc("later", buckets=[0, 5000], start="2026-01-22T00:00:00Z",
                       end="2026-02-01T00:00:00Z"),  # same buckets, after: allowed
        experiment_doc("other_layer", layer="mix", buckets=[0, 5000]),
    )
    problems = _problems(root)
    assert len(problems) == 1
    p = problems[0]
    assert (p.file, p.field, p.value) == ("two.yaml", "buckets", [4000, 6000])
    assert "must not overlap one (one.yaml) buckets [0, 5000) in layer 'rank'" in p.rule


def test_overlap_blames_the_new_file_and_names_both(
    write_configs: WriteConfigs, tmp_path: Path
) -> None:
    # zeta runs and is locked; a new alpha.yaml claims part of its range. Before the fix the
    # problem sat on zeta.yaml (the later file name), the file nobody touched.
    lock = tmp_path / "lock.json"
    zeta = experiment_doc("zeta", buckets=[0, 5000])
    assert _problems(write_configs(zeta), lock) == []
    problems = _problems(write_configs(zeta, experiment_doc("alpha", buckets=[4000, 6000])), lock)
    overlap = [p for p in problems if p.field == "buckets"]
    assert len(overlap) == 1, problems
    p = overlap[0]
    assert (p.file, p.value) == ("alpha.yaml", [4000, 6000])
    assert "must not overlap zeta (zeta.yaml) buckets [0, 5000) in layer 'rank'" in p.rule
    assert "alpha.yaml [4000, 6000) and zeta.yaml [0, 5000) share [4000, 5000)" in p.rule
    assert str(p).startswith("alpha.yaml: buckets == [4000, 6000]: must not overlap zeta")


def test_overlap_without_lock_blames_draft_then_later_start(write_configs: WriteConfigs) -> None:
    # no lock: a draft yields to a running experiment, a later start to an earlier one
    draft = _problems(write_configs(
        experiment_doc("aaa", buckets=[4000, 6000], status="draft"),
        experiment_doc("zzz", buckets=[0, 5000]),
    ))
    assert [(p.file, p.value) for p in draft] == [("aaa.yaml", [4000, 6000])]
    assert "zzz (zzz.yaml) buckets [0, 5000)" in draft[0].rule
    later = _problems(write_configs(
        experiment_doc("aaa", buckets=[4000, 6000], start="2026-01-10T00:00:00Z"),
        experiment_doc("zzz", buckets=[0, 5000]),
    ))
    assert [(p.file, p.value) for p in later] == [("aaa.yaml", [4000, 6000])]
    assert "aaa.yaml [4000, 6000) and zzz.yaml [0, 5000) share [4000, 5000)" in later[0].rule


def test_variant_seeds_must_be_unique(write_configs: WriteConfigs) -> None:
    root = write_configs(
        experiment_doc("one", salt="shared"),
        experiment_doc("two", layer="mix", salt="shared"),
        experiment_doc("three", layer="recall", salt="layer_rank"),
    )
    problems = _problems(root)
    assert {(p.file, p.field, p.value) for p in problems} == {
        ("two.yaml", "salt", "shared"), ("three.yaml", "salt", "layer_rank")
    }
    assert all("must be a unique variant seed" in p.rule for p in problems)


def test_traffic_that_does_not_fit(write_configs: WriteConfigs) -> None:
    root = write_configs(
        experiment_doc("big", buckets=[0, 8000]),
        experiment_doc("more", buckets=None, traffic=0.3),
    )
    p = _one(_problems(root), "more.yaml", "traffic")
    assert p.value == 0.3
    assert "must fit 3000 contiguous free buckets" in p.rule


def test_all_errors_are_listed_not_just_the_first(write_configs: WriteConfigs) -> None:
    bad = experiment_doc(
        "bad", layer="nolayer", owner=None, extra_field=1,
        variants=[{"key": "a", "weight": 0.7}, {"key": "b", "weight": 0.7}],
        end="2026-01-01T00:00:00Z",
    )
    root = write_configs(bad, experiment_doc("worse", metrics={"primary": "nope"}),
                         raw={"broken.yaml": "key: [unclosed\n"})
    problems = _problems(root)
    fields = {(p.file, p.field) for p in problems}
    assert {("bad.yaml", "owner"), ("bad.yaml", "extra_field"), ("bad.yaml", "variants[].weight"),
            ("bad.yaml", "end"), ("worse.yaml", "metrics.primary"),
            ("broken.yaml", "(file)")} <= fields
    with pytest.raises(ConfigError) as info:
        load_experiments(root)
    assert len(info.value.problems) >= 5
    assert "bad.yaml: owner == None" in str(info.value)


def test_layers_file_rules(write_configs: WriteConfigs) -> None:
    layers = {"holdout": {"share": 0.05, "salt": "layer_rank"},
              "layers": LAYERS["layers"] + [{"name": "rank", "salt": "x"}]}
    root = write_configs(experiment_doc("exp"), layers=layers)
    problems = _problems(root)
    assert any(p.file == "layers.yaml" and "must be unique" in p.rule for p in problems)


def test_lock_rejects_edits_that_move_units(write_configs: WriteConfigs, tmp_path: Path) -> None:
    lock = tmp_path / "lock.json"
    first = experiment_doc("exp", buckets=[1000, 5000])
    assert _problems(write_configs(first), lock) == []
    locked = json.loads(lock.read_text())
    assert locked["experiments"]["exp"]["buckets"] == [1000, 5000]

    reweighted = experiment_doc("exp", buckets=[1000, 5000],
                                variants=[{"key": "control", "weight": 0.4},
                                          {"key": "treatment", "weight": 0.6}])
    p = _one(_problems(write_configs(reweighted), lock), "exp.yaml", "variants")
    assert p.value == [["control", 0.4], ["treatment", 0.6]]
    assert "units would move between variants" in p.rule
    assert "new salt" in p.rule

    shrunk = experiment_doc("exp", buckets=[2000, 5000])
    p = _one(_problems(write_configs(shrunk), lock), "exp.yaml", "buckets")
    assert "must contain the locked range [1000, 5000)" in p.rule

    rehashed = experiment_doc("exp", buckets=[1000, 5000], hash_version=1)
    assert _one(_problems(write_configs(rehashed), lock), "exp.yaml", "hash_version").value == 1

    layers = dict(LAYERS, holdout={"key": "global_holdout", "share": 0.1, "salt": "ho"})
    p = _one(_problems(write_configs(first, layers=layers), lock), "layers.yaml", "holdout.share")
    assert p.value == 0.1

    # allowed: ramping up, and any edit that declares a new salt (re-randomization on purpose)
    assert _problems(write_configs(experiment_doc("exp", buckets=[1000, 7000])), lock) == []
    assert _problems(write_configs(dict(reweighted, salt="exp_v2")), lock) == []
    assert json.loads(lock.read_text())["experiments"]["exp"]["salt"] == "exp_v2"


def test_demo_configs_pass_against_the_real_metric_catalog(data_root: Path) -> None:
    # the catalogs the integration layer passes (shoplab experiments validate, the demo)
    report = validate(metrics=metric_names(), param_bounds=PARAM_BOUNDS)
    assert report.ok, report.problems
    assert report.skipped == ()
    assert report.lock_written
    assert report.lock_path == data_root / "experiments" / "lock.json"
    assert report.running == 5


def test_a_check_without_its_catalog_is_skipped_and_reported(write_configs: WriteConfigs) -> None:
    """The experiment layer cannot import analysis or the simulator: None means "not checked"."""
    root = write_configs(experiment_doc(
        "exp", metrics={"primary": "nope"},
        variants=[{"key": "a", "weight": 0.5, "params": {"mix_video_share": 1.5}},
                  {"key": "b", "weight": 0.5}],
    ))
    report = validate(root, lock_path=root / "lock.json", write_lock=False)
    assert report.ok, report.problems  # neither rule could be checked ...
    assert report.skipped == (SKIPPED_METRICS, SKIPPED_PARAMS)  # ... and the report says so
    full = validate(root, metrics=CATALOG, param_bounds=PARAM_BOUNDS,
                    lock_path=root / "lock.json", write_lock=False)
    assert {p.field for p in full.problems} == {
        "metrics.primary", "variants[0].params.mix_video_share"
    }


def test_cli_validate_checks_the_catalogs(write_configs: WriteConfigs, data_root: Path) -> None:
    """``shoplab experiments validate`` gets the catalogs from the integration layer."""
    root = write_configs(experiment_doc(
        "exp", metrics={"primary": "nope"},
        variants=[{"key": "a", "weight": 0.5, "params": {"mix_video_share": 1.5}},
                  {"key": "b", "weight": 0.5}],
    ))
    result = CliRunner().invoke(app, ["experiments", "validate", "--dir", str(root)])
    assert result.exit_code == 1
    assert "exp.yaml: metrics.primary == 'nope': must be a metric" in result.output
    assert "exp.yaml: variants[0].params.mix_video_share == 1.5: must be a number" in result.output


def test_cli_validate_exit_code_and_messages(write_configs: WriteConfigs, data_root: Path) -> None:
    root = write_configs(experiment_doc("exp", layer="nolayer", end="2026-01-01T00:00:00Z"))
    result = CliRunner().invoke(app, ["experiments", "validate", "--dir", str(root)])
    assert result.exit_code == 1
    assert "exp.yaml: layer == 'nolayer': must be one of the layers" in result.output
    assert "exp.yaml: end == '2026-01-01T00:00:00Z': must be after start" in result.output


def test_yaml_schema_export_matches_committed_files() -> None:
    from shoplab.experiments.cli import SCHEMA_DIR, schema_documents

    for name, doc in schema_documents().items():
        committed = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())
        assert committed == doc, f"run: shoplab experiments schema --out {SCHEMA_DIR}"
    props = schema_documents()["experiment"]["properties"]
    assert set(props) == {
        "key", "layer", "type", "buckets", "traffic", "variants", "targeting", "allowlist",
        "status", "start", "end", "hash_version", "salt", "metrics", "description", "owner",
        "trigger",
    }
    assert props["status"]["enum"] == ["draft", "running", "stopped"]


def test_validate_all_returns_analyzable_experiments_and_raises_on_problems(
    write_configs: WriteConfigs, data_root: Path
) -> None:
    from shoplab.experiments import validate_all

    root = write_configs(experiment_doc("live"), experiment_doc("idea", status="draft",
                                                                layer="mix"))
    exps = validate_all(root, metrics=metric_names(), param_bounds=PARAM_BOUNDS)
    assert sorted(exps) == ["global_holdout", "live"]
    assert [v.weight for v in exps["global_holdout"].variants] == [0.05, 0.95]
    bad = write_configs(experiment_doc("live", layer="nolayer"))
    with pytest.raises(ConfigError, match="live.yaml: layer == 'nolayer'"):
        validate_all(bad, metrics=metric_names(), param_bounds=PARAM_BOUNDS)
