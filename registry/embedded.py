"""The embedded default database: a private PostgreSQL+PostGIS cluster under ``./var/``.

Used whenever ``DATABASE_URL`` is unset, so a newcomer needs no set-up. PostgreSQL refuses to
run as root, so when we are root the cluster belongs to the ``postgres`` system user and its
programs run through ``runuser``. ``Cluster`` also serves tests and ``bench/fault_injection.py``
that need a second, disposable server (a "fresh server" to restore onto, one to stop under load).
"""
from __future__ import annotations

import glob
import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)

PORT = int(os.environ.get("EQREG_EMBEDDED_PORT", "54329"))
DATABASE = "eqreg"


def home() -> Path:
    """Directory holding the cluster (``$EQREG_HOME/var``, default ``./var``)."""
    return Path(os.environ.get("EQREG_HOME", os.getcwd())).resolve() / "var"


def pg_program(name: str) -> str:
    """Path of a PostgreSQL program (the newest installed major version, else ``$PATH``)."""
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    found = candidates[-1] if candidates else shutil.which(name)
    if not found:
        raise RuntimeError(f"找不到 PostgreSQL 程序 {name}：请先安装 postgresql 与 postgis（见 README）")
    return found


@dataclass(frozen=True)
class Cluster:
    """A private cluster: data under ``root/pgdata``, socket and log under ``root/run``."""
    root: Path
    port: int

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def data_dir(self) -> Path:
        return self.root / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.root / "run" / "postgres.log"

    def is_running(self) -> bool:
        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def start(self) -> str:
        """Initialise (first time) and start the cluster; create the database. Returns its URL."""
        run_dir = self.root / "run"
        if not self.is_running():
            for directory in (self.data_dir, run_dir):
                directory.mkdir(parents=True, exist_ok=True)
                if os.geteuid() == 0:
                    shutil.chown(directory, "postgres", "postgres")
            if not (self.data_dir / "PG_VERSION").exists():
                log.info("initialising embedded cluster in %s", self.data_dir)
                self._run([pg_program("initdb"), "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
                           "--encoding=UTF8", "--locale=C.UTF-8"])
            log.info("starting embedded cluster on port %s", self.port)
            self._run([pg_program("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file), "-w",
                       "-o", f"-p {self.port} -k {run_dir} -c listen_addresses=127.0.0.1", "start"])
            for _ in range(50):
                if self.is_running():
                    break
                time.sleep(0.1)
        ensure_database(self.url())
        return self.url()

    def stop(self, mode: str = "fast") -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._run([pg_program("pg_ctl"), "-D", str(self.data_dir), "-w", "-m", mode, "stop"])

    def _run(self, args: list[str]) -> None:
        if os.geteuid() == 0:
            args = ["runuser", "-u", "postgres", "--", *args]
        done = subprocess.run(args, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} 失败：{done.stderr.strip() or done.stdout.strip()}"
                               f"（日志：{self.log_file}）")


def default_cluster() -> Cluster:
    return Cluster(home(), PORT)


def url(database: str = DATABASE) -> str:
    return default_cluster().url(database)


def is_running() -> bool:
    return default_cluster().is_running()


def start() -> str:
    """Initialise (first time) and start the default cluster; create the database. Returns its URL."""
    return default_cluster().start()


def stop() -> None:
    default_cluster().stop()


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
