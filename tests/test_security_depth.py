"""Defence in depth: private upload files, map responses bounded whatever a project's size."""
from __future__ import annotations

import io
import os
import stat

import pytest
from sqlalchemy import text

from web import uploads

CSV = ("项目代码,项目名称,领域,建设单位,经度,纬度,总投资（万元）,项目阶段\n"
       "2025-370499-01-01-800001,甲街道供热计量改造,建筑,甲热力,117.05,35.05,300,谋划储备\n")


def test_waiting_uploads_are_private_files_in_a_private_directory(client_for, web_data, app, tmp_path):
    directory = tmp_path / "uploads"
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)
    app.config["UPLOAD_DIR"] = str(directory)
    bureau = client_for("bureau")
    response = bureau.post("/imports/preview", data={"file": (io.BytesIO(CSV.encode()), "p.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 200
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = list(directory.iterdir())
    assert len(files) == 2 and {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}


def test_the_app_does_not_start_with_a_symlinked_upload_directory(committed, tmp_path):
    from web.app import create_app
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(uploads.UnsafeUploadDir):
        create_app({"DATABASE_URL": committed, "TESTING": True, "UPLOAD_DIR": str(tmp_path / "link" / ".")})


def test_an_upload_file_is_never_written_through_a_symlink(tmp_path):
    (tmp_path / "target").write_bytes(b"keep")
    (tmp_path / "token.bin").symlink_to(tmp_path / "target")
    with pytest.raises(OSError):
        uploads.write_private(tmp_path / "token.bin", b"evil")
    assert (tmp_path / "target").read_bytes() == b"keep"


def test_a_huge_project_geometry_is_simplified_for_the_map(client, web_data, engine):
    # 200 000 vertices zig-zagging by less than half a pixel at zoom 11 along 0.2°.
    with engine.begin() as conn:
        conn.execute(text("""
            UPDATE projects SET geom = (
              SELECT ST_MakeLine(ST_MakePoint(117.01 + i * 1e-6, 35.05 + (i % 2) * 1e-6) ORDER BY i)
              FROM generate_series(0, 199999) i)
            WHERE code = '2024-370499-01-01-100002'"""))
    response = client.get("/api/v1/map/features", query_string={"bbox": "116.9,34.9,117.4,35.2", "zoom": 11})
    pipeline = next(f for f in response.get_json()["features"]
                    if f["properties"]["code"] == "2024-370499-01-01-100002")
    assert len(pipeline["geometry"]["coordinates"]) < 100
    assert len(response.data) < 50_000


def test_the_web_role_cannot_read_password_hashes_but_can_sign_in(db):
    """Sign-in derives the hash from the typed password and lets the database compare (0011):
    nothing the web role may call or read returns a stored hash — not even to an injection."""
    from sqlalchemy import exc

    from registry import accounts
    accounts.create_user(db, actor="test", username="alice", role="admin", password="s3cret-pass")
    stored = db.scalar(text("SELECT password_hash FROM users WHERE username = 'alice'"))
    digest = stored.rpartition("$")[2]
    db.execute(text("SET LOCAL ROLE eqreg_app"))
    assert db.scalar(text("SELECT username FROM users WHERE username = 'alice'")) == "alice"
    assert accounts.authenticate(db, username="alice", password="s3cret-pass", ip="10.0.0.1").role == "admin"
    with pytest.raises(accounts.AuthenticationFailed):
        accounts.authenticate(db, username="alice", password="wrong-pass", ip="10.0.0.1")
    # The column itself, the way a SQL injection would dump it, is closed …
    with pytest.raises(exc.ProgrammingError, match="permission denied"):
        with db.begin_nested():
            db.execute(text("SELECT password_hash FROM users"))
    # … the old definer function is gone, and the settings function gives the salt, not the hash.
    assert db.scalar(text("SELECT to_regprocedure('eqreg_password_hash(text)')")) is None
    every_output = " ".join(map(str, db.execute(text(
        "SELECT s.* FROM users u, eqreg_password_settings(u.username) s")).all()))
    assert digest not in every_output and "$argon2id$" in every_output
    assert db.scalar(text("SELECT eqreg_verify_password('alice', 'guess')")) is False

def test_an_injection_cannot_test_password_guesses_faster_than_the_database_allows(db):
    """Calling the compare function directly (as an injected expression would) skips the app's
    sign-in limits: the database counts the wrong candidates itself and, after 100 within 15
    minutes, refuses even the right one; the web role can neither read nor clear that count."""
    from sqlalchemy import exc

    from registry import accounts
    accounts.create_user(db, actor="test", username="alice", role="admin", password="s3cret-pass")
    stored = db.scalar(text("SELECT password_hash FROM users WHERE username = 'alice'"))
    db.execute(text("SET LOCAL ROLE eqreg_app"))
    verify = text("SELECT eqreg_verify_password('alice', :candidate)")
    assert db.scalar(verify, {"candidate": stored}) is True
    assert db.scalar(text("SELECT bool_or(eqreg_verify_password('alice', 'guess-' || n)) "
                          "FROM generate_series(1, 100) n")) is False
    assert db.scalar(verify, {"candidate": stored}) is False  # the right one, refused unchecked
    assert db.scalar(text("SELECT eqreg_verify_password('bob', 'guess')")) is False
    for statement in ("SELECT count(*) FROM password_checks", "DELETE FROM password_checks"):
        with pytest.raises(exc.ProgrammingError, match="permission denied"):
            with db.begin_nested():
                db.execute(text(statement))
