"""The baseline: a bare Flask JSON endpoint, served by the same gunicorn settings as the service."""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/api/v1/verify")
def verify():
    body = request.get_json(silent=True) or {}
    return jsonify({"ok": True, "length": len(body.get("qr", ""))})
