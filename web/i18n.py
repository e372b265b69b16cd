"""Languages of the UI: Chinese by default, English on request — one language at a time.

The language is Chinese unless the user chose English with ``?lang=en`` (kept in a cookie until
``?lang=zh``: every worker reads a cookie at once, unlike the server session, which other workers
cache for a few seconds); the browser's Accept-Language is deliberately ignored, so the menu and
the page body never disagree. Message ids in templates are English; the Chinese catalogue is
``web/translations/zh``. The ``.po`` files are compiled to ``.mo`` at app start (into a cache
directory), so a fresh clone needs no manual ``pybabel compile`` step.

Codes are never shown to people: domains, stages, funding sources, problem kinds, booleans and
record fields go through the label helpers here (also Jinja globals).
"""
from __future__ import annotations

import hashlib
import logging
import tempfile
from pathlib import Path
from urllib.parse import urlencode

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, request
from flask_babel import Babel, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from registry.import_report import kind_label
from registry.vocab import DOMAINS, FUNDING_SOURCES, STAGES, label

LANGUAGES = ("zh", "en")
LANGUAGE_COOKIE = "eqreg_lang"
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600
log = logging.getLogger(__name__)

# A project record's fields as people read them (history, conflict page); message ids are English.
RECORD_FIELDS = {
    "code": _l("Project code"), "name": _l("Project name"), "domain_code": _l("Domain"), "domain": _l("Domain"),
    "category": _l("Category"), "owner": _l("Owner"), "credit_code": _l("Unified social credit code"),
    "declared_town": _l("Town (as written)"), "town": _l("Town"), "address": _l("Address"),
    "geometry": _l("Location (geometry)"), "towns": _l("Towns (shares)"), "source_crs": _l("Coordinate system"), "crs": _l("Coordinate system"),
    "total_investment": _l("Total investment (10k yuan)"),
    "equipment_investment": _l("Equipment investment (10k yuan)"),
    "completed_investment": _l("Completed investment (10k yuan)"), "funding": _l("Funding"),
    "stage": _l("Stage"), "stage_before_suspension": _l("Stage before suspension"),
    "planned_start": _l("Planned start"), "planned_end": _l("Planned end"), "actual_start": _l("Actual start"),
    "actual_end": _l("Actual end"), "lead_unit": _l("Lead unit"), "responsible_units": _l("Responsible units"),
    "is_key": _l("Key project"), "quantity": _l("Quantity"), "unit": _l("Unit"), "remarks": _l("Remarks"),
    "length_km": _l("Length (km)"), "area_km2": _l("Area (km²)"), "primary_town_code": _l("Primary town"),
    "deleted_at": _l("Deleted at"), "percent": _l("Physical progress (percent)"), "note": _l("Progress note"),
    "reason": _l("Reason"), "reported_on": _l("Report date"),
}
ROLES = {"admin": _l("Administrator"), "bureau": _l("Development bureau"), "planner": _l("Planner"),
         "town": _l("Town official"), "viewer": _l("Viewer (city or province)")}
# What happened to a project, in its history.
ACTIONS = {"create": _l("Registered"), "update": _l("Edited"), "delete": _l("Deleted"), "restore": _l("Restored"),
           "progress": _l("Progress report"), "import": _l("Imported"),
           "rematch": _l("Town boundaries changed")}


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "zh")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compile_catalogues())
    Babel(app, locale_selector=select_locale)
    app.after_request(_remember_language)
    app.jinja_env.globals.update(domain_label=domain_label, stage_label=stage_label,
                                 funding_label=funding_label, funding_labels=funding_labels,
                                 problem_kind_label=problem_kind_label, yes_no=yes_no, action_label=action_label,
                                 role_label=role_label, field_label=field_label,
                                 field_value=field_value, current_language=current_language,
                                 language_url=language_url)


def select_locale() -> str:
    """``?lang=``, else the choice remembered in the language cookie, else Chinese."""
    for wanted in (request.args.get("lang"), request.cookies.get(LANGUAGE_COOKIE)):
        if wanted in LANGUAGES:
            return wanted
    return LANGUAGES[0]


def _remember_language(response):
    wanted = request.args.get("lang")
    if wanted in LANGUAGES and request.cookies.get(LANGUAGE_COOKIE) != wanted:
        response.set_cookie(LANGUAGE_COOKIE, wanted, max_age=LANGUAGE_COOKIE_SECONDS, httponly=True,
                            samesite="Lax", secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))
    return response


def current_language() -> str:
    return str(get_locale() or LANGUAGES[0])[:2]


def language_url(language: str) -> str:
    """This page, with its query (filters, page, sort) kept, in ``language``."""
    args = request.args.to_dict(flat=False)
    args["lang"] = [language]
    return request.path + "?" + urlencode(args, doseq=True)


def _english() -> bool:
    return current_language() == "en"


def vocabulary_labels(entries) -> dict[str, str]:
    """Code → label in the UI language for a ``registry.vocab`` vocabulary of (中文, English) pairs."""
    language = current_language()
    return {code: label(entries, code, language) for code in entries}


def domain_label(code: str | None) -> str:
    """The domain's label in the UI language (the code itself when unknown)."""
    return label(DOMAINS, code, current_language())


def problem_kind_label(kind: str) -> str:
    """An import problem kind's label in the UI language (``registry.import_report.KIND_LABELS``)."""
    return kind_label(kind, current_language())


def stage_label(code: str | None) -> str:
    return label(STAGES, code, current_language())


def funding_label(code: str | None) -> str:
    return label(FUNDING_SOURCES, code, current_language())


def funding_labels(codes) -> str:
    """A project's funding sources as people read them: labels joined by 、 (— when none)."""
    return ("; " if _english() else "、").join(funding_label(c) for c in codes or []) or "—"


def role_label(role: str) -> str:
    return str(ROLES.get(role, role))


def action_label(action: str) -> str:
    return str(ACTIONS.get(action, action))


def yes_no(value) -> str:
    return _("Yes") if value else _("No")


def field_label(field: str) -> str:
    """A record field's label in the UI language."""
    if field in RECORD_FIELDS:
        return str(RECORD_FIELDS[field])
    from registry.progress import field_label as registry_label
    return registry_label(field)


def field_value(field: str, value) -> str:
    """A stored value as people read it: labels for codes, 是/否 for booleans, （空） for none."""
    if value is None or value == "" or value == []:
        return _("(empty)")
    if isinstance(value, bool):
        return yes_no(value)
    if field in ("domain_code", "domain"):
        return domain_label(value)
    if field in ("stage", "stage_before_suspension"):
        return stage_label(value)
    if field == "funding":
        return funding_labels(value if isinstance(value, list) else [value])
    if field == "geometry" and isinstance(value, dict):
        return _("%(type)s geometry", type=value.get("type", ""))
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


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
