"""The signing key without EQREG_SECRET_KEY: made once under var/, shared by workers and restarts."""
from __future__ import annotations

import multiprocessing
import stat

import pytest

from registry.secret import SecretKeyMissing, stored_secret_key
from web.app import create_app


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("EQREG_HOME", str(tmp_path))
    monkeypatch.delenv("EQREG_SECRET_KEY", raising=False)
    return tmp_path


def test_two_apps_share_one_kept_key(home, database_url):
    first = create_app({"DATABASE_URL": database_url})
    second = create_app({"DATABASE_URL": database_url})
    assert first.secret_key == second.secret_key
    kept = home / "var" / "secret_key"
    assert kept.read_text().strip() == first.secret_key
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600


def test_a_restart_reads_the_same_key(home):
    assert stored_secret_key() == stored_secret_key()


def _key(path, queue):
    queue.put(stored_secret_key(path))


def test_workers_starting_at_once_agree_on_one_key(tmp_path):
    path = tmp_path / "secret_key"
    queue = multiprocessing.get_context("fork").Queue()
    workers = [multiprocessing.get_context("fork").Process(target=_key, args=(path, queue)) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    keys = {queue.get(timeout=5) for _ in workers}
    assert len(keys) == 1
    assert list(tmp_path.iterdir()) == [path]  # no draft files left behind


def test_a_loose_key_file_is_made_private(tmp_path):
    path = tmp_path / "secret_key"
    path.write_text("a" * 64)
    path.chmod(0o644)
    assert stored_secret_key(path) == "a" * 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_production_requires_the_variable(home, database_url):
    with pytest.raises(SecretKeyMissing, match="EQREG_SECRET_KEY"):
        create_app({"DATABASE_URL": database_url, "ENV_PRODUCTION": True})
    assert not (home / "var" / "secret_key").exists()
