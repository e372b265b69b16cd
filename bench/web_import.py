"""Benchmark: the web import vs the CLI on the same generated rows (issue 9, DESIGN §9).

``POST /api/v1/imports`` (multipart, bearer token of a bureau user) against ``eqreg serve`` runs the
import as the web role under row-level security; ``eqreg projects import`` runs it as the table
owner. Both write the same rows into an emptied registry; the previews compare
``POST /api/v1/imports`` with ``dry_run=1`` and ``eqreg projects import --dry-run``. Goals:
web ≤ 1.5× the CLI for both. Alternating runs, medians.

    .venv/bin/python bench/web_import.py --n 100000
"""
from __future__ import annotations

import http.client
import json
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common  # noqa: E402
from bench.api_load import BENCH_PASSWORD, BENCH_USER, request  # noqa: E402


def post_file(port: int, token: str, path: Path, *, dry_run: bool) -> tuple[int, dict]:
    """``POST /api/v1/imports`` with the file as multipart form data; (status, report)."""
    boundary = uuid.uuid4().hex
    fields = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n".encode()
                      for name, value in (("dry_run", "1" if dry_run else "0"),))
    body = (fields + f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
            "Content-Type: text/csv\r\n\r\n".encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode())
    connection = http.client.HTTPConnection(common.HOST, port, timeout=600)
    connection.request("POST", "/api/v1/imports", body=body, headers={
        "Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, json.loads(data)


def main() -> None:
    parser = common.arguments("web import (POST /api/v1/imports) vs eqreg projects import", n=100_000)
    args = parser.parse_args()
    common.setup_logging()
    url = args.database_url
    common.fresh_database(url)
    csv_path = common.template_csv(url, args.n)
    common.eqreg(url, "users", "add", BENCH_USER, "--role", "bureau", "--password-stdin", stdin=BENCH_PASSWORD + "\n")

    def clear() -> None:
        common.psql(url, "-c", "TRUNCATE projects, project_towns, import_batches, audit_log CASCADE",
                    "-c", "VACUUM ANALYZE projects, project_towns")

    port = common.free_port()
    server = common.start_server(url, port)
    try:
        status, body = request(port, "POST", "/api/v1/auth/token",
                               {"username": BENCH_USER, "password": BENCH_PASSWORD})
        if status not in (200, 201):
            raise SystemExit(f"POST /api/v1/auth/token: {status} {body[:200]!r}")
        token = json.loads(body)["token"]

        def web(dry_run: bool):
            def measure() -> common.Run:
                started = time.perf_counter()
                status, report = post_file(port, token, csv_path, dry_run=dry_run)
                if status not in (200, 201) or report["imported"] != args.n:
                    raise SystemExit(f"web import: {status} {str(report)[:300]}")
                return common.Run(time.perf_counter() - started, 0.0)
            return measure

        def cli(dry_run: bool):
            extra = ["--dry-run"] if dry_run else []
            return lambda: common.run([common.EQREG, "projects", "import", str(csv_path), *extra],
                                      env=common.env_for(url))

        results: dict[str, list[common.Run]] = {name: [] for name in ("web", "cli", "web dry", "cli dry")}
        for _ in range(args.repeat):  # alternating, so load on the machine hits both alike
            for name, measure in (("web", web(False)), ("cli", cli(False)),
                                  ("web dry", web(True)), ("cli dry", cli(True))):
                clear()
                results[name].extend(common.repeat(1, measure, label=name))
    finally:
        common.stop_server(server)
    medians = {name: common.median_seconds(runs) for name, runs in results.items()}
    print(f"web import vs CLI, {args.n} rows; medians of {args.repeat}")
    common.print_table(["", "web s", "CLI s", "ratio", "goal"],
                       [["import", medians["web"], medians["cli"], f"{medians['web'] / medians['cli']:.2f}x", "≤ 1.5x"],
                        ["preview (dry run)", medians["web dry"], medians["cli dry"],
                         f"{medians['web dry'] / medians['cli dry']:.2f}x", "≤ 1.5x"]])


if __name__ == "__main__":
    main()
