#!/usr/bin/env bash
# Reproduce web/static/vendor/ (except chartjs/) from the npm registry with `npm pack`.
# Only the dist files the maps use are kept, each package with its licence file.
# Usage: scripts/vendor_assets.sh   (needs npm and access to the npm registry)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$root/web/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# package@version  destination-dir  files (relative to the package root)
packages=(
  "leaflet@1.9.4|leaflet|LICENSE dist/leaflet.js dist/leaflet.css dist/images/layers.png dist/images/layers-2x.png dist/images/marker-icon.png dist/images/marker-icon-2x.png dist/images/marker-shadow.png"
  "leaflet.markercluster@1.5.3|leaflet.markercluster|MIT-LICENCE.txt dist/leaflet.markercluster.js dist/MarkerCluster.css dist/MarkerCluster.Default.css"
  "leaflet.featuregroup.subgroup@1.0.2|leaflet.featuregroup.subgroup|LICENSE dist/leaflet.featuregroup.subgroup.js"
  "leaflet.heat@0.2.0|leaflet.heat|LICENSE dist/leaflet-heat.js"
)

for entry in "${packages[@]}"; do
  IFS='|' read -r spec dest files <<<"$entry"
  (cd "$work" && npm pack --silent "$spec" >/dev/null)
  tarball="$(ls "$work"/*.tgz)"
  mkdir -p "$work/unpacked"
  tar -xzf "$tarball" -C "$work/unpacked"
  rm -rf "${vendor:?}/$dest"
  for f in $files; do
    # dist/ prefix dropped: web/static/vendor/leaflet/leaflet.js, .../images/layers.png
    target="$vendor/$dest/${f#dist/}"
    mkdir -p "$(dirname "$target")"
    cp "$work/unpacked/package/$f" "$target"
  done
  echo "$spec" > "$vendor/$dest/VERSION"
  rm -rf "$work/unpacked" "$tarball"
done
echo "vendored into $vendor"
