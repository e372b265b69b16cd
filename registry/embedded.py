"""The embedded default database: a private PostgreSQL+PostGIS cluster under ``./var/``.

Used whenever ``DATABASE_URL`` is unset, so a newcomer needs no set-up. PostgreSQL refuses to
run as root, so when we are root the cluster belongs to the ``postgres`` system user and its
programs run through ``runuser``.
"""
from __future__ import annotations

import glob
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)

PORT = int(os.environ.get("EQREG_EMBEDDED_PORT", "54329"))
DATABASE = "eqreg"


def home() -> Path:
    """Directory holding the cluster (``$EQREG_HOME/var``, default ``./var``)."""
    return Path(os.environ.get("EQREG_HOME", os.getcwd())).resolve() / "var"


def url(database: str = DATABASE) -> str:
    return f"postgresql://postgres@127.0.0.1:{PORT}/{database}"


def _pg_program(name: str) -> str:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    found = candidates[-1] if candidates else shutil.which(name)
    if not found:
        raise RuntimeError(f"找不到 PostgreSQL 程序 {name}：请先安装 postgresql 与 postgis（见 README）")
    return found


def _run(args: list[str]) -> None:
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} 失败：{done.stderr.strip() or done.stdout.strip()}"
                           f"（日志：{_log_file()}）")


def _log_file() -> Path:
    return home() / "run" / "postgres.log"


def _data_dir() -> Path:
    return home() / "pgdata"


def is_running() -> bool:
    try:
        with psycopg.connect(url("postgres"), connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def start() -> str:
    """Initialise (first time) and start the cluster; create the database. Returns its URL."""
    data = _data_dir()
    run_dir = home() / "run"
    if not is_running():
        for directory in (data, run_dir):
            directory.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(directory, "postgres", "postgres")
        if not (data / "PG_VERSION").exists():
            log.info("initialising embedded cluster in %s", data)
            _run([_pg_program("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                  "--encoding=UTF8", "--locale=C.UTF-8"])
        log.info("starting embedded cluster on port %s", PORT)
        _run([_pg_program("pg_ctl"), "-D", str(data), "-l", str(_log_file()), "-w",
              "-o", f"-p {PORT} -k {run_dir} -c listen_addresses=127.0.0.1", "start"])
        for _ in range(50):
            if is_running():
                break
            time.sleep(0.1)
    ensure_database(url())
    return url()


def stop() -> None:
    if (_data_dir() / "postmaster.pid").exists():
        _run([_pg_program("pg_ctl"), "-D", str(_data_dir()), "-w", "-m", "fast", "stop"])


def ensure_database(database_url: str) -> None:
    """Create the database named in ``database_url`` (and PostGIS in it) if it is missing."""
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    name = info.get("dbname", "postgres")
    admin = psycopg.conninfo.make_conninfo(database_url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
