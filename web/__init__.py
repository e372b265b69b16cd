"""The web side: Flask app factory, blueprints (pages, API), templates, static assets, maps, CLI."""
