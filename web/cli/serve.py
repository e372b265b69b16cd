"""``eqreg serve``: the web app under gunicorn (threads, so many clients at once), or ``--dev``."""
from __future__ import annotations

import os

import click

DEFAULT_THREADS = 16


def gunicorn_options(host: str, port: int, workers: int, threads: int) -> dict:
    """Gunicorn settings: ``gthread`` workers; each thread holds at most one pooled connection."""
    return {"bind": f"{host}:{port}", "workers": workers, "worker_class": "gthread", "threads": threads,
            "timeout": 120, "graceful_timeout": 30, "keepalive": 5,
            "accesslog": "-", "errorlog": "-", "preload_app": False}


def run_gunicorn(options: dict) -> None:
    from gunicorn.app.base import BaseApplication

    class RegistryApplication(BaseApplication):
        def load_config(self):
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            from web.app import create_app
            return create_app()

    RegistryApplication().run()


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="监听地址（对外服务用 0.0.0.0）")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="端口")
@click.option("--workers", default=lambda: min(4, (os.cpu_count() or 1) + 1), type=click.IntRange(1, 64),
              help="gunicorn 进程数（默认：CPU 数 + 1，最多 4）")
@click.option("--threads", default=DEFAULT_THREADS, show_default=True, type=click.IntRange(1, 256),
              help="每个进程的线程数")
@click.option("--dev", is_flag=True, help="使用 Flask 开发服务器（自动重载，仅供开发）")
def command(host: str, port: int, workers: int, threads: int, dev: bool) -> None:
    """启动 Web 服务（生产：gunicorn；开发：--dev）。"""
    if dev:
        from web.app import create_app
        create_app().run(host=host, port=port, debug=True, threaded=True)
        return
    share_connections(workers, threads)
    run_gunicorn(gunicorn_options(host, port, workers, threads))


def share_connections(workers: int, threads: int) -> None:
    """Tell each worker its share of the connection budget (``web.database.pool_limits``).

    Each thread may hold one connection, so a worker's pool is sized to its threads within its share.
    """
    from web.database import CONNECTION_BUDGET
    budget = int(os.environ.get("EQREG_DB_CONNECTIONS") or CONNECTION_BUDGET)
    if budget < workers:
        raise click.UsageError(f"EQREG_DB_CONNECTIONS={budget} 少于进程数 {workers}：每个进程至少需要 1 个数据库连接")
    os.environ["EQREG_DB_WORKERS"] = str(workers)
    os.environ.setdefault("EQREG_DB_POOL_SIZE", str(threads))
    share = budget // workers
    if share < threads:
        click.echo(f"注意：每个进程只分到 {share} 个数据库连接，少于 {threads} 个线程，高峰时请求会排队等待连接"
                   f"（调大 EQREG_DB_CONNECTIONS 或减少 --workers/--threads）。", err=True)


group = command  # registered by web.cli._register like the other command modules
