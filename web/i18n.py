"""Languages of the UI: Chinese by default, English on request (``?lang=en`` or Accept-Language).

Message ids in templates are English; the Chinese catalogue is ``web/translations/zh``. The ``.po``
files are compiled to ``.mo`` at app start (into a cache directory), so a fresh clone needs no
manual ``pybabel compile`` step. Domain and stage labels come from ``registry.vocab``.
"""
from __future__ import annotations

import hashlib
import logging
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, request, session
from flask_babel import Babel, get_locale

from registry.import_report import kind_label
from registry.vocab import DOMAINS, STAGES

LANGUAGES = ("zh", "en")
log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "zh")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compile_catalogues())
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals.update(domain_label=domain_label, stage_label=stage_label,
                                 problem_kind_label=problem_kind_label,
                                 current_language=current_language)


def select_locale() -> str:
    """``?lang=`` (remembered in the session), else the browser's preference, else Chinese."""
    wanted = request.args.get("lang")
    if wanted in LANGUAGES:
        session["lang"] = wanted
        return wanted
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    return request.accept_languages.best_match(LANGUAGES, default=LANGUAGES[0])


def current_language() -> str:
    return str(get_locale() or LANGUAGES[0])[:2]


def domain_label(code: str | None) -> str:
    """The domain's label in the UI language (the code itself when unknown)."""
    entry = DOMAINS.get(code or "")
    return (entry[1] if current_language() == "en" else entry[0]) if entry else (code or "")


def problem_kind_label(kind: str) -> str:
    """An import problem kind's label in the UI language (``registry.import_report.KIND_LABELS``)."""
    return kind_label(kind, current_language())


def stage_label(code: str | None) -> str:
    entry = STAGES.get(code or "")
    return (entry[1] if current_language() == "en" else entry[0]) if entry else (code or "")


def compile_catalogues() -> Path:
    """Compile ``web/translations/*/LC_MESSAGES/*.po`` into a cache directory; return its root.

    The directory name carries a hash of the sources, so edits are picked up and parallel
    workers reuse one compiled copy.
    """
    sources = sorted((Path(__file__).parent / "translations").glob("*/LC_MESSAGES/*.po"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    root = Path(tempfile.gettempdir()) / f"eqreg-translations-{digest}"
    for po_path in sources:
        mo_path = root / po_path.parent.parent.name / "LC_MESSAGES" / (po_path.stem + ".mo")
        if mo_path.exists():
            continue
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with po_path.open("rb") as po_file:
            catalogue = read_po(po_file)
        # write to a private name, then rename: another worker may be compiling the same file
        partial = mo_path.with_suffix(f".{id(catalogue)}.tmp")
        with partial.open("wb") as mo_file:
            write_mo(mo_file, catalogue)
        partial.replace(mo_path)
        log.debug("compiled %s", po_path)
    return root
