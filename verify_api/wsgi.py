"""Entry point for gunicorn: `gunicorn verify_api.wsgi:app` (configuration from the environment)."""

from . import create_app

app = create_app()
