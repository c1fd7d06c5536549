"""The logs: a structlog chain rendered once per line, written by one thread to the seed's
files under ``LOG_DIR`` (``combined``, ``error``, ``exceptions``, ``rejections``), the request
context every line of a request carries, its access line, and redaction."""
