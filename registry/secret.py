"""The web app's signing key when ``EQREG_SECRET_KEY`` is unset: made once, kept under ``var/``.

Every gunicorn worker and every restart must sign sessions and CSRF tokens with the same key, so
a key generated per process would sign users out at random. The file is created atomically (the
first worker to start wins, the others read its key) with mode 0600, and never goes into the
database, which the web role can read (DESIGN §9). Production must set the variable instead.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from registry import embedded

FILE_NAME = "secret_key"


class SecretKeyMissing(RuntimeError):
    """Production without ``EQREG_SECRET_KEY``."""


def key_file() -> Path:
    return embedded.home() / FILE_NAME


def stored_secret_key(path: Path | None = None) -> str:
    """The key kept in ``path`` (default ``var/secret_key``), generating it on first use."""
    path = path or key_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    draft = path.with_name(f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32))
    try:
        os.link(draft, path)  # atomic and refuses to replace: a concurrent worker's key wins
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return _read(path)


def _read(path: Path) -> str:
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise SecretKeyMissing(f"密钥文件 {path} 内容无效：请删除它后重启，或设置 EQREG_SECRET_KEY")
    return key
