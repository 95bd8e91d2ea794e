"""Vocabularies from configuration: the setting, the import mapping's block, the contract's lists.

The hand-made log of ``test_events`` (countries ID/TH/VN, platforms android/ios/web) is validated
against other vocabularies: a value outside them is quarantined naming the column, the value and
where the vocabulary came from; the manifest records the vocabularies used.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from shoplab.core.contract import COUNTRIES, PLATFORMS
from shoplab.core.errors import ConfigError
from shoplab.events import import_events, load_events
from shoplab.events.manifest import read_manifest
from shoplab.events.rules import rules_for
from shoplab.events.vocabularies import (
    DEFAULT_SOURCE,
    Vocabularies,
    active_vocabularies,
    load_vocabularies,
)
from tests.events.test_events import write_log


def _vocab_file(tmp_path: Path, **lists: list[str]) -> Path:
    path = tmp_path / "vocab.yaml"
    path.write_text(yaml.safe_dump(lists))
    return path


def test_defaults_are_the_contract_lists_and_keep_the_old_reasons(data_root: Path) -> None:
    v = active_vocabularies()
    assert (v.countries, v.platforms, v.source, v.is_default) == (
        COUNTRIES, PLATFORMS, DEFAULT_SOURCE, True)
    assert [r.reason for r in rules_for("users", v)] == [r.reason for r in rules_for("users")]
    write_log(data_root)
    report = load_events()
    assert report.quarantined == 0
    manifest = read_manifest()
    assert manifest is not None
    assert manifest.vocabularies == v.as_record()


def test_setting_vocabularies_quarantines_values_outside_them_naming_value_and_source(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # TH and VN are not in this marketplace's countries; 'ios' is not among its platforms
    path = _vocab_file(tmp_path, countries=["ID", "FR"], platforms=["android", "web"])
    monkeypatch.setenv("SHOPLAB_VOCABULARIES", str(path))
    write_log(data_root)
    report = load_events()
    source = f"SHOPLAB_VOCABULARIES={path}"
    # users: 2 (TH, ios) breaks country first; 3 (VN, web) breaks country
    assert report["users"].reasons == {
        f"unknown country 'TH' (not in countries of {source})": 1,
        f"unknown country 'VN' (not in countries of {source})": 1,
    }
    assert report["requests"].reasons == {  # requests carry the user's country too
        f"unknown country 'TH' (not in countries of {source})": 1,
        f"unknown country 'VN' (not in countries of {source})": 1,
    }
    quarantined = pq.read_table(data_root / "quarantine" / "users").to_pylist()
    assert sorted((r["user_id"], r["country"]) for r in quarantined) == [(2, "TH"), (3, "VN")]
    manifest = read_manifest()
    assert manifest is not None
    assert manifest.vocabularies is not None
    assert manifest.vocabularies["source"] == source
    assert manifest.vocabularies["countries"] == ["ID", "FR"]
    assert manifest.vocabularies["categories"] == list(Vocabularies().categories)  # defaulted


def test_a_configured_vocabulary_accepts_values_the_contract_lists_lack(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_log(data_root)
    users = pq.read_table(data_root / "events" / "users" / "users.parquet").to_pylist()
    users[0]["country"], users[0]["platform"] = "FR", "tv"
    from tests.events.test_events import write_rows

    write_rows(data_root / "events" / "users" / "users.parquet", "users", users)
    assert load_events(["users"])["users"].reasons == {"unknown country": 1}  # the defaults
    write_log(data_root)
    write_rows(data_root / "events" / "users" / "users.parquet", "users", users)
    monkeypatch.setenv("SHOPLAB_VOCABULARIES", str(_vocab_file(
        tmp_path, countries=[*COUNTRIES, "FR"], platforms=[*PLATFORMS, "tv"])))
    assert load_events(["users"])["users"].quarantined == 0


def test_import_mapping_block_is_kept_for_later_validations(
    data_root: Path, tmp_path: Path
) -> None:
    src = tmp_path / "users.csv"
    src.write_text("id,at,cc,os\n1,2026-01-01,FR,web\n2,2026-01-01,DE,tv\n3,2026-01-01,ID,web\n")
    mapping = tmp_path / "import.yaml"
    mapping.write_text(yaml.safe_dump({
        "sources": {"u": {"path": "users.csv"}},
        "vocabularies": {"countries": ["FR", "DE"], "platforms": ["web", "tv"]},
        "tables": {"users": {"source": "u", "columns": {
            "user_id": "id", "signup_ts": "at", "country": "cc", "platform": "os"}}},
    }))
    report = import_events(mapping)
    source = f"import mapping {mapping}"
    assert report["users"].load.reasons == {
        f"unknown country 'ID' (not in countries of {source})": 1}
    kept = json.loads((data_root / "events" / "vocabularies.json").read_text())
    assert (kept["source"], kept["countries"], kept["platforms"]) == (
        source, ["FR", "DE"], ["web", "tv"])
    again = load_events()  # a later validation judges the log by the same vocabularies
    assert again.quarantined == 0
    manifest = read_manifest()
    assert manifest is not None
    assert manifest.vocabularies == kept


@pytest.mark.parametrize(("lists", "message"), [
    ({"countries": []}, "countries == [], Value error, an empty list"),
    ({"platforms": ["web", "web"]}, "values ['web'] repeat"),
    ({"colours": ["red"]}, "colours == ['red'], Extra inputs are not permitted"),
    ({"countries": ["ID", " "]}, "values [' '] are blank"),
])
def test_bad_vocabulary_files_name_field_value_and_rule(
    tmp_path: Path, lists: dict[str, list[str]], message: str
) -> None:
    path = _vocab_file(tmp_path, **lists)
    with pytest.raises(ConfigError, match="vocab.yaml") as err:
        load_vocabularies(path)
    assert message in str(err.value)


def test_a_setting_naming_a_missing_file_is_a_config_error(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPLAB_VOCABULARIES", str(tmp_path / "nope.yaml"))
    write_log(data_root)
    with pytest.raises(ConfigError, match="nope.yaml: cannot read the vocabularies"):
        load_events()
