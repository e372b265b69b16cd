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
  # bundles pbf and @mapbox/vector-tile (BSD-3-Clause, named in the file's headers)
  "leaflet-vector-tile-layer@0.15.0|leaflet-vector-tile-layer|LICENCE AUTHORS dist/VectorTileLayer.umd.min.js"
  "leaflet-draw@1.0.4|leaflet-draw|dist/leaflet.draw.js dist/leaflet.draw.css dist/images/spritesheet.png dist/images/spritesheet-2x.png dist/images/spritesheet.svg"
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
# leaflet-draw ships no licence file; its package.json says MIT and its header names the authors.
cat > "$vendor/leaflet-draw/LICENSE" <<'MIT'
Leaflet.draw 1.0.4 — https://github.com/Leaflet/Leaflet.draw (license: MIT, per its package.json)

Copyright (c) 2012-2017, Jacob Toye, Jon West, Smartrak, Leaflet

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT
OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
MIT
echo "vendored into $vendor"
