"""The app behind PgBouncer in transaction mode (``DB_TRANSACTION_POOLING``, issue 14 item 3).

PgBouncer gets ONE server connection (``default_pool_size = 1``): every transaction of every
client runs on it in turn, so anything the app set per connection would be seen by the next
user's transaction. Two town users' requests, interleaved, must each still see only their own
town; the role and ``jit`` hold inside the app's transactions and are gone outside them.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from conftest import token_for
from registry import embedded
from spare_cluster import free_port

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
SMART_FACTORY = "2024-370499-01-01-100001"  # in 乙镇 (370499002) only
GRAIN_DRYER = "2024-370499-01-01-100004"  # in 丙镇 (370499003) only
GAS_MAINS = "2024-370499-01-01-100002"  # crosses all three towns


@pytest.fixture(scope="module")
def bouncer_url(database_url):
    """PgBouncer (transaction mode, one server connection) in front of the test database."""
    target = make_url(database_url)
    port = free_port()
    root = embedded.home() / f"pgbouncer-{port}"
    root.mkdir(parents=True)
    (root / "pgbouncer.ini").write_text(f"""[databases]
{target.database} = host={target.host} port={target.port} user={target.username} dbname={target.database}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 1
max_client_conn = 100
logfile = {root}/pgbouncer.log
ignore_startup_parameters = extra_float_digits
""")
    command = [PGBOUNCER, str(root / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        shutil.chown(root, "postgres")
        command[1:1] = ["-u", "postgres"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode()
                time.sleep(0.05)
        yield target.set(port=port, host="127.0.0.1").render_as_string(hide_password=False)
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pooled_app(bouncer_url, web_data):
    from web.app import create_app
    app = create_app({"DATABASE_URL": bouncer_url, "TESTING": True, "DB_TRANSACTION_POOLING": True})
    yield app
    app.extensions["eqreg.engine"].dispose()


def codes(response) -> set[str]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return {item["code"] for item in response.get_json()["items"]}


def test_scope_holds_across_interleaved_transactions_on_one_server_connection(pooled_app, engine, bouncer_url):
    with Session(engine) as session:
        tokens = {town: token_for(session, "town", (town,)) for town in ("370499002", "370499003")}
        session.commit()
    clients = {}
    for town, token in tokens.items():
        clients[town] = pooled_app.test_client()
        clients[town].environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    for _ in range(4):  # more than psycopg's prepare threshold (5 executions) of each statement
        yizhen = codes(clients["370499002"].get("/api/v1/projects?per_page=100"))
        bingzhen = codes(clients["370499003"].get("/api/v1/projects?per_page=100"))
        assert SMART_FACTORY in yizhen and GRAIN_DRYER not in yizhen and GAS_MAINS in yizhen
        assert GRAIN_DRYER in bingzhen and SMART_FACTORY not in bingzhen and GAS_MAINS in bingzhen

    # Inside a request transaction: the application role, jit off, the request's secret.
    from web import database
    with pooled_app.test_request_context(headers={"Authorization": f"Bearer {tokens['370499002']}"}):
        pooled_app.preprocess_request()
        row = database.session().execute(text(
            "SELECT current_user, current_setting('jit'), current_setting('eqreg.session') <> ''")).one()
        database.close_sessions()
    assert tuple(row) == ("eqreg_app", "off", True)
    # Outside it, on the same (only) server connection: nothing of it is left.
    with psycopg.connect(bouncer_url, autocommit=True) as conn:
        row = conn.execute("SELECT current_user, current_setting('jit'), "
                           "coalesce(current_setting('eqreg.session', true), '')").fetchone()
    assert row == ("postgres", "on", "")
    with pooled_app.extensions["eqreg.engine"].connect() as connection:
        assert connection.connection.driver_connection.prepare_threshold is None
