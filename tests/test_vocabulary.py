"""One vocabulary source: registry.vocab holds every code and its labels; the reference tables
that SQL joins (domains, funding_sources) mirror it, and the pages show the same labels."""
from __future__ import annotations

from sqlalchemy import text

from registry.vocab import DOMAINS, FUNDING_SOURCES, STAGES, TARGET_STATUSES, choices, label


def test_the_domains_table_mirrors_the_vocabulary(db):
    rows = db.execute(text("SELECT code, label_zh, label_en FROM domains WHERE active ORDER BY sort_order")).all()
    assert [tuple(r) for r in rows] == [(code, zh, en) for code, (zh, en, _) in DOMAINS.items()]


def test_the_funding_sources_table_mirrors_the_vocabulary(db):
    rows = db.execute(text("SELECT code, label_zh FROM funding_sources ORDER BY sort_order")).all()
    assert [tuple(r) for r in rows] == [(code, zh) for code, (zh, _) in FUNDING_SOURCES.items()]


def test_a_label_is_chinese_or_english_and_an_unknown_code_shows_itself():
    assert label(STAGES, "construction") == "在建"
    assert label(STAGES, "construction", "en") == "Under construction"
    assert label(TARGET_STATUSES, "behind", "en") == "Behind"
    assert label(DOMAINS, "spaceflight") == "spaceflight"
    assert choices(FUNDING_SOURCES)[0] == ("ultra_long_bonds", "超长期特别国债")


def test_the_edit_form_offers_the_vocabularys_labels_in_the_ui_language(client_for):
    bureau = client_for("bureau")
    assert "超长期特别国债" in bureau.get("/projects/new").get_data(as_text=True)
    english = bureau.get("/projects/new?lang=en").get_data(as_text=True)
    assert "Ultra-long special treasury bonds" in english and "Municipal infrastructure" in english
