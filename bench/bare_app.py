"""The baselines: a bare Flask JSON endpoint, and the same doing the one Redis read a scan needs,
served by the same gunicorn settings as the service."""

import os

import redis
from flask import Flask, jsonify, request

app = Flask(__name__)
_url = os.environ.get("BENCH_REDIS_URL")
_redis = redis.Redis.from_url(_url, decode_responses=True) if _url else None


@app.post("/api/v1/verify")
def verify():
    body = request.get_json(silent=True) or {}
    if _redis is None:
        return jsonify({"ok": True, "length": len(body.get("qr", ""))})
    return jsonify(_redis.hgetall(os.environ["BENCH_REDIS_KEY"]))
