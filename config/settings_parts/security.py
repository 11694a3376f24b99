"""Security settings: HTTPS, cookies, and the Content Security Policy."""

from csp.constants import NONE, SELF

from config.settings_parts.environment import env

# HTTPS=true: served over HTTPS, behind a proxy that terminates TLS and sets
# X-Forwarded-Proto (and strips it from clients). Plain-HTTP requests are redirected,
# except the health checks a container probe makes from inside; cookies go over HTTPS
# only; browsers are told to use HTTPS alone for SECURE_HSTS_SECONDS.
HTTPS = env.bool("HTTPS", default=False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_HTTPONLY = True
# Sessions are read from the cache (Redis, else files: SESSION_CACHE_ALIAS) and written
# through to the database: a live page's poll then reads the database only for its user
# and the plan's change stamp. A cache without the session (a restarted Redis) falls back
# to the database row.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
