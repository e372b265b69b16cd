"""The offline basemap: ``eqreg basemap load`` checks and keeps a raster MBTiles under var/, the
app serves its tiles at /tiles/z/x/y (rows flipped from TMS) and draws it by default."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from mbtiles import RED, solid_png, write_mbtiles
from registry import basemap
from web.cli import main


@pytest.fixture
def home(tmp_path, monkeypatch, committed):
    monkeypatch.setenv("EQREG_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def load(*args):
    return CliRunner().invoke(main, ["basemap", "load", *map(str, args)])


def test_load_keeps_the_file_under_var_and_audits_it(home, tmp_path, engine):
    result = load(write_mbtiles(tmp_path / "city.mbtiles"))
    assert result.exit_code == 0, result.output
    assert "5 个瓦片" in result.output
    assert (home / "var" / "basemap.mbtiles").is_file()
    with engine.connect() as conn:
        entry = conn.execute(text("SELECT after FROM audit_log WHERE action = 'basemap_load'")).scalar_one()
    assert entry["name"] == "测试底图" and entry["format"] == "png"


def test_a_second_load_is_refused_without_replace(home, tmp_path):
    assert load(write_mbtiles(tmp_path / "a.mbtiles")).exit_code == 0
    refused = load(write_mbtiles(tmp_path / "b.mbtiles"))
    assert refused.exit_code == 1 and "--replace" in refused.output
    assert load(tmp_path / "b.mbtiles", "--replace").exit_code == 0


def test_vector_and_broken_files_are_refused_in_chinese(home, tmp_path):
    vector = load(write_mbtiles(tmp_path / "v.mbtiles", fmt="pbf"))
    assert vector.exit_code == 1 and "矢量" in vector.output
    broken = tmp_path / "broken.mbtiles"
    broken.write_bytes(b"not sqlite at all")
    result = load(broken)
    assert result.exit_code == 1 and "不是有效的 MBTiles" in result.output
    assert not (home / "var" / "basemap.mbtiles").exists()


def test_tiles_are_served_with_rows_flipped_and_the_map_uses_them_by_default(home, tmp_path, client, web_data):
    assert "/tiles/" not in client.get("/map").get_data(as_text=True)  # nothing loaded: no basemap
    basemap.install_basemap(write_mbtiles(tmp_path / "city.mbtiles"))
    red = client.get("/tiles/1/1/0.png")  # XYZ row 0 = the northern half = TMS row 1
    assert red.status_code == 200 and red.mimetype == "image/png" and red.data == solid_png(RED)
    assert client.get("/tiles/1/1/1.png").data != solid_png(RED)
    missing = client.get("/tiles/5/3/3.png")  # beyond the file's zoom levels: transparent, not an error
    assert missing.status_code == 200 and missing.data.startswith(b"\x89PNG")
    assert client.get("/tiles/1/1/0.exe").status_code == 404
    page = client.get("/map").get_data(as_text=True)
    assert "/tiles/{z}/{x}/{y}.png" in page and '"maxNativeZoom": 1' in page
    detail = client.get(f"/projects/{next(iter(web_data.values()))}").get_data(as_text=True)
    assert 'data-basemap="{&#34;maxNativeZoom&#34;: 1' in detail  # the mini map draws it too


def test_tiles_need_a_signed_in_user(home, tmp_path, anonymous_client, web_data):
    basemap.install_basemap(write_mbtiles(tmp_path / "city.mbtiles"))
    assert anonymous_client.get("/tiles/1/1/0.png").status_code in (302, 401)
