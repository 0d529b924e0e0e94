"""The verification service: Flask app, JSON API, public pages, issuer API and Redis store."""

from __future__ import annotations

import contextlib
import time
from functools import partial
from typing import Any

from flask import Flask, g, request
from flask_limiter import HeaderNames, Limiter

from keys.algorithms import PrivateKey

from . import errors, keyspace, logs, metrics
from .config import Config
from .scanlog import ScanLog
from .services import Services, client_address
from .store import Store
from .trust import TrustSource

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
LIMIT_RETRY_AFTER = "X-RateLimit-Retry-After"
_CORS_PATHS = ("/api/v1/verify", "/api/v1/certificates/", "/api/v1/trust-list", "/api/v1/status-feed",
               "/api/v1/inspections", "/api/v1/enrol")
_CORS_HEADERS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                 "Access-Control-Allow-Headers": "Content-Type, If-None-Match, Authorization",
                 "Access-Control-Expose-Headers": "ETag, Retry-After", "Access-Control-Max-Age": "600"}
_SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
                     "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()"}
# Added where a view set none of its own (/scan/ sets its own Permissions-Policy: camera), lower-cased
# names beside, so one pass over the response's headers finds what is missing.
_DEFAULT_HEADERS = tuple((name.lower(), name, value) for name, value in
                         (("Content-Security-Policy", CSP), *_SECURITY_HEADERS.items()))
_CORS_DEFAULTS = _DEFAULT_HEADERS + tuple((name.lower(), name, value) for name, value in _CORS_HEADERS.items())
SLOW_S = 0.25
# The signed offline data: a site's inspectors share one address, and each phone syncs every page of it.
_UNCOUNTED_PATHS = ("/api/v1/trust-list", "/api/v1/status-feed")
BAD_AUTH_ADDRESS_FACTOR = 5


def create_app(config: Config | dict[str, Any] | None = None) -> Flask:
    """The app factory: `config` is a Config, a dict of overrides on the environment's, or None."""
    if not isinstance(config, Config):
        config = Config.from_env(**(config or {}))
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # the default provider's settings
    app.json.sort_keys = False  # type: ignore[attr-defined]

    @app.after_request
    def _retry_after(response):
        # Registered before the limiter's own hook, so it runs after it (Flask runs them in reverse).
        # Retry-After is ours to set (store down: 5 s); the limiter reports its window in its own header
        # and lends it to Retry-After only on a 429.
        if response.status_code == 429 and "Retry-After" not in response.headers:
            window = response.headers.get(LIMIT_RETRY_AFTER)
            response.headers["Retry-After"] = str(max(int(window), 1)) if window and window.isdigit() else "60"
        return response

    redis_url = config.redis_url or _embedded_url(config)
    store = Store(redis_url, timeout=config.redis_timeout, replicas=config.redis_replicas,
                  status_bound_s=config.status_cache_s)
    feed_key = PrivateKey.from_pem(config.feed_key_path.read_bytes()) if config.feed_key_path.exists() else None
    limiter = Limiter(
        key_func=client_address, app=app, storage_uri=_limits_uri(redis_url),
        storage_options={"socket_timeout": config.redis_timeout},  # type: ignore[dict-item]  # redis-py takes a float
        key_prefix=keyspace.LIMITER_PREFIX,
        strategy="moving-window", headers_enabled=True, swallow_errors=True,
        in_memory_fallback_enabled=True, header_name_mapping={HeaderNames.RETRY_AFTER: LIMIT_RETRY_AFTER},
    )
    trust = TrustSource(config.trust_path, config.root_pub_path, config.trust_reload_s)
    scan_log = ScanLog(config.data_dir / "scanlog", config.retention_days)
    with contextlib.suppress(OSError):
        scan_log.prune(config.now())  # a service that starts after a quiet spell drops expired logs at once
    app.extensions["crane"] = Services(config, store, trust, feed_key, limiter, scan_log)
    logger = logs.configure()

    from . import api, documents_api, issuer_api, ops, pages, scan_app
    from .inspections import api as inspections_api
    from .inspections import pages as supervise

    if config.rate_limit:
        # One budget per client for everything public that checks a certificate (pages, verify, lookups,
        # file checks), however the client spreads its requests over them.
        public = limiter.shared_limit(config.rate_limit, scope="public")
        for blueprint in (api.bp, pages.bp, documents_api.page_bp, documents_api.api_bp):
            public(blueprint)
    unlimited = {"ops", "scan"} | (set() if config.rate_limit else {"api", "pages", "documents_page", "documents_api"})

    @limiter.request_filter
    def _no_limit_applies() -> bool:
        # Resolving limits costs a good share of a cheap request: skip it where none can apply.
        return request.blueprint in unlimited or request.endpoint == "static" or request.path in _UNCOUNTED_PATHS

    # The limiter's own hooks do most of that work before they ask the filter: ask first. Its after-request
    # hook only adds headers and deducts conditional costs, neither of which exists where no limit applies.
    hooks = app.before_request_funcs[None]
    hooks[hooks.index(limiter._check_request_limit)] = lambda: None if _no_limit_applies() else limiter._check_request_limit()
    after = app.after_request_funcs[None]
    inject = next(f for f in after if isinstance(f, partial) and f.args == (limiter,))
    after[after.index(inject)] = lambda response: response if _no_limit_applies() else inject(response)

    # Wrong tokens cost a client its attempts; right ones are not counted against it. Counted per client
    # address and presented token id: a client guessing at one token is stopped, while another token used
    # from the same address (an authority behind the same NAT) keeps working.
    # A guesser who presents a fresh token id each time is stopped by a wider budget per address alone.
    # Refused writes with a good token (another authority's certificate) are limited per token too.
    for blueprint in (issuer_api.bp, inspections_api.bp):
        limiter.limit(config.bad_token_limit, key_func=issuer_api.bad_token_key,
                      deduct_when=lambda r: r.status_code == 401)(blueprint)
        limiter.shared_limit(_per_address(config.bad_token_limit), scope="bad-auth-address", key_func=client_address,
                             deduct_when=lambda r: r.status_code == 401)(blueprint)
        limiter.shared_limit(config.bad_token_limit, scope="refused-write", key_func=issuer_api.bad_token_key,
                             deduct_when=lambda r: r.status_code == 403)(blueprint)
    # Enrolment codes are guessed at per address; a code that works costs nothing.
    limiter.limit(config.bad_token_limit, deduct_when=lambda r: r.status_code == 404)(inspections_api.enrol_bp)
    limiter.limit(config.bad_token_limit, deduct_when=lambda r: r.status_code == 401)(supervise.signin_bp)
    for blueprint in (api.bp, issuer_api.bp, ops.bp, pages.bp, scan_app.bp, inspections_api.bp,
                      inspections_api.enrol_bp, supervise.bp, supervise.signin_bp, documents_api.page_bp,
                      documents_api.api_bp):
        app.register_blueprint(blueprint)
    errors.install(app)

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response):
        endpoint = request.endpoint or "unmatched"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        metrics.observe(endpoint, request.method, response.status_code, elapsed)
        headers = response.headers
        present = {name.lower() for name in headers.keys()}
        defaults = _CORS_DEFAULTS if request.path.startswith(_CORS_PATHS) else _DEFAULT_HEADERS
        headers.extend([(name, value) for lower, name, value in defaults if lower not in present])
        # Metrics count every request; the log keeps what a person needs to read: failures, slow answers,
        # and every issuer call. Paths and payloads stay out (raw QR texts live only in the scan log).
        if response.status_code >= 500 or elapsed > SLOW_S or request.blueprint == "issuer":
            logger.info("request", extra={"fields": {
                "method": request.method, "endpoint": endpoint, "status": response.status_code,
                "ms": round(elapsed * 1000, 2)}})
        return response

    return app


def _per_address(limit: str) -> str:
    """Failed authentications allowed per address, whatever token ids: five times those per token id, so
    one guesser cannot lock out the other authorities behind the same address with a handful of tries."""
    count, _, period = limit.partition("/")
    return f"{int(count) * BAD_AUTH_ADDRESS_FACTOR}/{period}" if count.strip().isdigit() else limit


def _embedded_url(config: Config) -> str:
    from .redis_server import embedded_url

    url = embedded_url(config.data_dir)
    if url is None:
        raise RuntimeError(f"no REDIS_URL and no embedded redis-server running for {config.data_dir}; "
                           "start the service with `crane-verify serve`")
    return url


def _limits_uri(redis_url: str) -> str:
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://"):]
    return redis_url
