"""The directory where uploads wait between preview and confirm: private to the app's OS user.

Checked when the app starts (``init_app``): created 0700 if missing; refused if it is a symlink or
belongs to another user, since anyone able to write there could swap a waiting upload before it
is confirmed. Files are created 0600, exclusively, never following a symlink.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from flask import Flask, current_app

from registry import embedded


class UnsafeUploadDir(RuntimeError):
    """The upload directory is not private to this OS user."""


def upload_dir() -> Path:
    return Path(current_app.config.get("UPLOAD_DIR") or embedded.home() / "uploads")


def check_private_dir(path: Path) -> Path:
    """Make ``path`` (0700) or check it: a real directory, owned by us, closed to others."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise UnsafeUploadDir(f"上传目录 {path} 不是普通目录（可能是符号链接），请更换 EQREG_UPLOAD_DIR")
    if info.st_uid != os.getuid():
        raise UnsafeUploadDir(f"上传目录 {path} 属于其他用户，请更换 EQREG_UPLOAD_DIR 或修正所有者")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 (refusing to follow a symlink or overwrite a file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def init_app(app: Flask) -> None:
    with app.app_context():
        check_private_dir(upload_dir())
