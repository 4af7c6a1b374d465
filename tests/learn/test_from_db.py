"""`kaon train --from-db` and `kaon predict fit --from-db`: learning from a service's own history."""

from __future__ import annotations

import json
from pathlib import Path

import typer
import pytest
from typer.testing import CliRunner

from kaon.cli import learn, predict
from kaon.security.crypto import Cipher, write_new_key
from tests.service.test_retrain import populate


def _app() -> typer.Typer:
    app = typer.Typer()
    learn.register(app)
    predict.register(app)
    return app


@pytest.mark.slow  # two trainings with evaluation: about 60 s on 2 cores
def test_train_and_resume_from_a_service_database(tmp_path: Path, data_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kaon.db'}"
    populate(url, 40, tmp_path / "logs")
    out = tmp_path / "m"
    cluster = str(data_dir / "clusters" / "v100-homogeneous.yaml")
    tiny = ["--algo", "ppo", "--timesteps", "32", "--episode-jobs", "20", "--window", "4"]
    r = CliRunner().invoke(_app(), ["train", "--from-db", url, "--cluster", cluster, *tiny, "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert len((out / "history.csv").read_text().splitlines()) == 41  # header + every completed job
    run = json.loads((out / "manifest.json").read_text())["runs"][-1]
    assert run["trace"] == str(out / "history.csv") and run["jobs"] == 40
    r = CliRunner().invoke(_app(), ["train", "--from-db", url, "--resume", str(out), "--cluster", cluster, "--timesteps", "32"])
    assert r.exit_code == 0, r.output
    assert len(json.loads((out / "manifest.json").read_text())["runs"]) == 2


def test_predict_fit_from_a_sealed_database_needs_its_key(tmp_path: Path) -> None:
    key = tmp_path / "secret.key"
    write_new_key(key)
    url = f"sqlite:///{tmp_path / 'kaon.db'}"
    populate(url, 30, tmp_path / "logs", cipher=Cipher.from_file(key))
    out = tmp_path / "p"
    r = CliRunner().invoke(_app(), ["predict", "fit", "--from-db", url, "--out", str(out)], env={"KAON_SECRET_KEY": ""})
    assert r.exit_code == 2 and "encrypted" in r.output
    r = CliRunner().invoke(_app(), ["predict", "fit", "--from-db", url, "--key-file", str(key), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "manifest.json").read_text())["training"]["jobs"] == 30


def test_trace_and_from_db_are_exclusive(tmp_path: Path) -> None:
    r = CliRunner().invoke(_app(), ["train", "--trace", "x", "--from-db", "sqlite://", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "exactly one of --trace and --from-db" in r.output
