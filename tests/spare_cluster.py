"""A second, disposable PostgreSQL cluster for tests that need a fresh server or one to stop.

It lives under ``var/`` of the embedded default (so the ``postgres`` system user can reach it
when the tests run as root) on a free port, and is stopped and deleted afterwards.
"""
from __future__ import annotations

import shutil
import socket
from contextlib import contextmanager
from typing import Iterator

from registry import embedded


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def spare_cluster(name: str) -> Iterator[embedded.Cluster]:
    port = free_port()
    cluster = embedded.Cluster(embedded.home() / f"spare-{name}-{port}", port)
    cluster.start()
    try:
        yield cluster
    finally:
        try:
            cluster.stop(mode="immediate")
        finally:
            shutil.rmtree(cluster.root, ignore_errors=True)
