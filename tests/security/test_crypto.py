"""Job commands and environments at rest: no plaintext in the database file; key rotation."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from kaon.cli import admin
from kaon.security.crypto import Cipher, SecretKeyError, generate_key, write_new_key
from kaon.store.records import NewJob
from kaon.store.repo import JobStore

SECRET_ENV = "hunter2-d1st1nct1ve-v4lue"
SECRET_CMD = "--password=c0rrect-h0rse-b4ttery"


def _raw(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def _add(store: JobStore, tmp_path: Path, n: int = 3) -> None:
    jobs = [NewJob(("train.py", SECRET_CMD, str(i)), 1, 60.0, env=(("API_KEY", SECRET_ENV),)) for i in range(n)]
    store.add_jobs(jobs, 1.0, tmp_path)


def test_no_plaintext_secret_in_the_database_file(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    store = JobStore.open(f"sqlite:///{db}", Cipher(generate_key()))
    _add(store, tmp_path)
    assert store.require(2).command == ("train.py", SECRET_CMD, "1")
    assert dict(store.require(2).env) == {"API_KEY": SECRET_ENV}
    store.close()
    raw = _raw(db)
    assert SECRET_ENV.encode() not in raw and SECRET_CMD.encode() not in raw and b"train.py" not in raw


def test_service_seals_what_the_api_receives(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from kaon.service.app import create_app
    from tests.security.conftest import secure_settings

    key = tmp_path / "svc.key"
    write_new_key(key)
    with TestClient(create_app(secure_settings(tmp_path, dev_no_auth=True, key_file=key))) as client:
        job = {"command": ["sleep", SECRET_CMD], "env": {"TOKEN": SECRET_ENV}, "gpu_types": ["k80"], "gpus": 2}
        r = client.post("/api/v1/jobs", json=job)
        assert r.status_code == 201 and r.json()["env"] == {"TOKEN": SECRET_ENV}
        client.post(f"/api/v1/jobs/{r.json()['id']}/cancel")
    raw = _raw(tmp_path / "kaon.db")
    assert SECRET_ENV.encode() not in raw and SECRET_CMD.encode() not in raw


def test_a_row_under_another_key_is_a_500_that_says_what_to_run(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from kaon.service.app import create_app
    from tests.security.conftest import secure_settings

    key = tmp_path / "svc.key"
    write_new_key(key)
    with TestClient(create_app(secure_settings(tmp_path, dev_no_auth=True, key_file=key))) as client:
        # a row another key sealed (e.g. by a service still running through a rotation)
        _add(JobStore.open(f"sqlite:///{tmp_path / 'kaon.db'}", Cipher(generate_key())), tmp_path, n=1)
        r = client.get("/api/v1/jobs/1")
        assert r.status_code == 500
        assert "job 1: sealed with key" in r.json()["detail"] and "kaon admin rotate-key" in r.json()["detail"]


def test_rotation_re_encrypts_every_row(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    old, new = tmp_path / "old.key", tmp_path / "new.key"
    write_new_key(old)
    write_new_key(new)
    store = JobStore.open(url, Cipher.from_file(old))
    _add(store, tmp_path, n=5)
    before = store.list_jobs(limit=100)[0]
    store.close()
    app = typer.Typer()
    admin.register(app)
    r = CliRunner().invoke(app, ["admin", "rotate-key", "--old", str(old), "--new", str(new), "--db", url])
    assert r.exit_code == 0 and "re-encrypted 5 jobs" in r.output
    with pytest.raises(SecretKeyError, match="sealed with key"):
        JobStore.open(url, Cipher.from_file(old)).get(1)
    after = JobStore.open(url, Cipher.from_file(new)).list_jobs(limit=100)[0]
    assert after == before
    stray = tmp_path / "stray.key"
    write_new_key(stray)
    r = CliRunner().invoke(app, ["admin", "rotate-key", "--old", str(stray), "--new", str(old), "--db", url])
    assert r.exit_code == 1 and "job 1" in r.output and "neither the new key nor an old one" in r.output
    # Repeating a finished rotation is harmless: rows already under the new key open with it.
    r = CliRunner().invoke(app, ["admin", "rotate-key", "--old", str(old), "--new", str(new), "--db", url])
    assert r.exit_code == 0 and "re-encrypted 5 jobs" in r.output


def test_admin_commands_name_a_bad_database_url(tmp_path: Path) -> None:
    app = typer.Typer()
    admin.register(app)
    key = tmp_path / "k.key"
    write_new_key(key)
    for args in (["admin", "rotate-key", "--new", str(key)], ["admin", "token", "create", "--user", "a", "--role", "admin"]):
        r = CliRunner().invoke(app, [*args, "--db", "not-a-url"])
        assert r.exit_code == 1 and "database URL 'not-a-url'" in r.output, r.output


def test_a_database_sealed_under_two_keys_is_finished_by_rotating_with_both(tmp_path: Path) -> None:
    """What a service that kept running through a rotation leaves behind: new jobs still sealed
    under the old key. Rotating again with every key involved puts all rows under the new one."""
    url = f"sqlite:///{tmp_path / 'k.db'}"
    a, b = Cipher(generate_key()), Cipher(generate_key())
    _add(JobStore.open(url, a), tmp_path, n=2)
    assert JobStore.open(url, a).rotate_key([a], b) == 2
    _add(JobStore.open(url, a), tmp_path, n=1)  # a live service still on key a
    with pytest.raises(SecretKeyError, match="job 3: sealed with key"):
        JobStore.open(url, b).rotate_key([], b)
    assert JobStore.open(url, b).rotate_key([a], b) == 3
    assert [r.command[1] for r in JobStore.open(url, b).list_jobs(limit=10)[0]] == [SECRET_CMD] * 3


def test_plaintext_rows_are_sealed_by_rotation(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    store = JobStore.open(url)
    _add(store, tmp_path, n=2)
    cipher = Cipher(generate_key())
    assert store.rotate_key([], cipher) == 2
    assert JobStore.open(url, cipher).require(1).command[1] == SECRET_CMD
    with pytest.raises(SecretKeyError, match="encrypted"):
        store.get(1)


def test_a_ciphertext_moved_to_another_row_does_not_open() -> None:
    c = Cipher(generate_key())
    sealed = c.seal({"a": 1}, "job 1")
    assert c.open(sealed, "job 1") == {"a": 1}
    with pytest.raises(SecretKeyError, match="does not authenticate"):
        c.open(sealed, "job 2")


def test_bad_keys_are_named() -> None:
    with pytest.raises(SecretKeyError, match="32 bytes"):
        Cipher("c2hvcnQ=", "k.key")
