"""``shoplab models ...`` and ``shoplab rank`` end to end through the app; errors in one line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from shoplab.cli import app, error_message
from shoplab.core.errors import ShoplabError
from shoplab.models.errors import RegistryUnavailableError
from tests.models.conftest import World

ENV = {"COLUMNS": "200"}


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=ENV)
    assert result.exit_code == 0, result.output
    return result.output


def test_train_list_show_alias_and_rank(use_world: World) -> None:
    out = _run(
        "models", "train", "cli_ranker", "--service", "ranker_v1", "--algo", "logreg",
        "--train", "2026-01-02", "2026-01-04", "--valid", "2026-01-04", "2026-01-06",
    )
    assert out.startswith("registered cli_ranker/1: logreg on ranker_v1 (click)")
    assert "AUC 0." in out
    assert "NDCG@10 0." in out
    # nothing of MLflow's or alembic's logging in the output
    assert "INFO" not in out
    assert "alembic" not in out
    assert "Successfully" not in out
    assert _run("models", "alias", "cli_ranker", "1", "champion").strip() == (
        "cli_ranker@champion -> cli_ranker/1"
    )
    listed = _run("models", "list")
    assert "cli_ranker/1" in listed
    assert "@champion" in listed
    assert "ctr_lgbm/1" in listed
    doc = json.loads(_run("models", "show", "cli_ranker@champion"))
    assert doc["model"] == "cli_ranker/1"
    assert doc["aliases"] == ["champion"]
    assert doc["tags"]["shoplab.service"] == "ranker_v1"
    assert doc["tags"]["shoplab.features"][0] == "position"
    ranked = _run("rank", "5", "1", "2", "3", "--at", "2026-01-06T00:00:00Z",
                  "--model", "cli_ranker@champion")
    assert "model cli_ranker/1" in ranked
    assert _run("models", "fallbacks")  # prints a table or "no fallback counted"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["models", "show", "nope/3"], "error: model == 'nope/3': no registered model 'nope'"),
        (["models", "show", "bad name"], "error: model == 'bad name', must be NAME/VERSION"),
        (["models", "alias", "ctr_logreg", "9", "champion"], "no version 9, must be one of [1]"),
        (["models", "alias", "ctr_logreg", "1", "v2"], "error: alias == 'v2', must start"),
        (
            ["models", "train", "x", "--algo", "svm", "--train", "2026-01-02", "2026-01-04",
             "--valid", "2026-01-04", "2026-01-06"],
            "error: algo == 'svm', must be one of ['lightgbm', 'logreg', 'popularity'].",
        ),
    ],
)
def test_errors_are_one_line_and_exit_2(
    use_world: World, args: list[str], message: str
) -> None:
    """A ShoplabError reaches ``shoplab.cli.run``, which prints ``error_message`` and exits 2."""
    result = CliRunner().invoke(app, args, env=ENV)
    assert isinstance(result.exception, ShoplabError), result.output
    line = error_message(result.exception)
    assert line is not None
    assert "\n" not in line
    assert message.removeprefix("error: ") in line


def test_an_unreachable_mlflow_uri_is_one_clear_error(
    use_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPLAB_MLFLOW_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    result = CliRunner().invoke(app, ["models", "list"], env=ENV)
    assert isinstance(result.exception, RegistryUnavailableError), result.output
    line = error_message(result.exception)
    assert line is not None
    assert "\n" not in line
    assert line.startswith("MLflow URI == 'http://127.0.0.1:9'")


def test_the_package_exports_exactly_its_all() -> None:
    import shoplab.models as sm

    assert set(sm.__all__) == set(sm._EXPORTS)
    for name in sm.__all__:
        assert getattr(sm, name) is not None
