"""Error capture: one place every error goes through (a log line with the traceback,
``errors_total``, Sentry when configured, an alert when it matters)."""
