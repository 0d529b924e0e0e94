"""The verification service: Flask app, JSON API, public pages, issuer API and Redis store."""
