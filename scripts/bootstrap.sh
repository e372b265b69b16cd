#!/usr/bin/env bash
# Set up everything the registry needs on a Debian machine: PostgreSQL + PostGIS, GDAL tools,
# Chromium for browser tests, a Python venv with the package and its dev tools. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
pg_major=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1 || true)
if [ -z "$pg_major" ]; then
  need+=(postgresql postgis)
elif [ ! -f "/usr/share/postgresql/$pg_major/extension/postgis.control" ]; then
  need+=("postgresql-$pg_major-postgis-3")
fi
command -v ogr2ogr >/dev/null || need+=(gdal-bin)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
command -v runuser >/dev/null || need+=(util-linux)

if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing system packages: ${need[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${need[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [ ! -f "$stamp" ]; then
  echo "==> installing Python packages"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[dev]'
  rm -f .venv/.installed-*; touch "$stamp"
fi
