"""The offline basemap in Chromium: a tiny raster MBTiles loaded with ``eqreg basemap load`` is
drawn on /map by default, from the app's own /tiles/..., with no request leaving the machine."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import served
from conftest import SERVED_PASSWORD
from mbtiles import write_mbtiles

# the centre pixel of every basemap tile drawn, read back through a canvas (same origin)
TILE_COLOURS = """() => Array.from(document.querySelectorAll('img.leaflet-tile-loaded')).map(img => {
    const c = document.createElement('canvas'); c.width = c.height = 1;
    const g = c.getContext('2d'); g.drawImage(img, 128, 128, 1, 1, 0, 0, 1, 1);
    return {src: new URL(img.src).pathname, rgb: Array.from(g.getImageData(0, 0, 1, 1).data.slice(0, 3))};
})"""


def test_loaded_mbtiles_is_the_default_basemap_drawn_offline(browser, served_database, tmp_path):
    home = tmp_path / "home"
    eqreg = Path(sys.executable).with_name("eqreg")
    loaded = subprocess.run([str(eqreg), "basemap", "load", str(write_mbtiles(tmp_path / "city.mbtiles"))],
                            env={**os.environ, "EQREG_HOME": str(home), "DATABASE_URL": served_database},
                            capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    with served.Served(served_database, workers=2, home=home) as app:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        served.sign_in(context, app.base, "map_viewer", SERVED_PASSWORD)
        viewer = served.Watched(context, app.base)
        viewer.open_map("/map")
        viewer.page.wait_for_function("document.querySelectorAll('img.leaflet-tile-loaded').length > 0")
        tiles = viewer.page.evaluate(TILE_COLOURS)
        # 测试区 (117°E, 35°N) lies in the zoom-1 tile x=1, y=0 (XYZ), stored red at TMS row 1
        assert {t["src"] for t in tiles} == {"/tiles/1/1/0.png"}
        assert all(abs(a - b) <= 2 for t in tiles for a, b in zip(t["rgb"], (220, 30, 30))), tiles
        assert "本地底图" in viewer.page.locator(".eqreg-basemaps").inner_text()
        viewer.screenshot("map-offline-basemap.png")
        viewer.assert_stayed_local()
        context.close()
