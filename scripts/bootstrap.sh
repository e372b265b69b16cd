#!/usr/bin/env bash
# Set up everything the registry needs on a Debian machine: PostgreSQL + PostGIS, PgBouncer, GDAL tools,
# Chromium for browser tests, a Python venv with the package and its dev tools. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
pg_major=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1 || true)
if [ -z "$pg_major" ]; then
  need+=(postgresql postgresql-postgis)  # "postgis" alone is only the command-line tools
elif [ ! -f "/usr/share/postgresql/$pg_major/extension/postgis.control" ]; then
  need+=("postgresql-$pg_major-postgis-3")
fi
command -v ogr2ogr >/dev/null || need+=(gdal-bin)
command -v chromium >/dev/null || need+=(chromium)
[ -x /usr/sbin/pgbouncer ] || command -v pgbouncer >/dev/null || need+=(pgbouncer)  # transaction pooling tests
python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)

if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing system packages: ${need[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "需要 root 或 sudo 安装：${need[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${need[@]}"
fi

if [ ! -x .venv/bin/pip ]; then  # a venv made without ensurepip has python but no pip
  echo "==> creating .venv"
  rm -rf .venv
  python3 -m venv .venv
fi
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [ ! -f "$stamp" ]; then
  echo "==> installing Python packages"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  rm -f .venv/.installed-*; touch "$stamp"
fi
