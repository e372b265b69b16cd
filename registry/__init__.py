"""The registry domain: models, services, validation, life-cycle rules, import/export formats.

Knows nothing of Flask. Services are plain functions taking a SQLAlchemy session.
"""
