"""Keep secrets out of log lines, Sentry events, Slack messages and the alert store.

One :class:`Redactor` serves every sink. It tells a secret two ways:

* **by key**: the value under a key that names a secret (``password``, ``Authorization``,
  ``Cookie``, ``api_key``, ``*_token``, ``*_secret``, ``dsn``, …) becomes ``[REDACTED]``;
* **by value**: inside any string, the part that has a secret's shape is masked and the
  rest of the text is kept:

  ====================================  ================================================
  URL userinfo                          ``postgresql://app:[REDACTED]@db:5432/app``
  the key of a DSN-shaped URL           ``https://[REDACTED]@o1.ingest.sentry.io/42``
  Authorization-style credentials       ``Bearer [REDACTED]``, ``Basic [REDACTED]``
  ``key=value`` and ``"key": "value"``  ``token=[REDACTED]``, ``'password': '[REDACTED]'``
  Slack tokens                          ``[REDACTED]`` (``xoxb-…``, ``xapp-…``)
  Slack incoming-webhook URLs           ``https://hooks.slack.com/services/[REDACTED]``
  the configured secrets' values        ``[REDACTED]``, wherever they appear
  ====================================  ================================================

Speed: Python's ``re`` tries every alternative at every position, so one pattern of all
the shapes costs ~20 µs on a browser's user agent. Each shape is found instead by a plain
substring search for its fixed part (``://``, ``xox``, ``bearer``, ``password``…), and only a
hit runs a small anchored pattern. A string with nothing secret-looking costs a few ``in``
checks (~1 µs for a browser's user agent); :meth:`Redactor.scrub_repeated` remembers values
that recur (user agents), so the access line pays a dict lookup for them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final
from uuid import UUID

__all__ = ["MIN_SECRET_LENGTH", "REDACTED", "Redactor"]

REDACTED: Final = "[REDACTED]"
# A configured secret shorter than this is not looked for in text: "admin" or "hook" would
# mask ordinary words in every line, and a secret that short protects nothing anyway.
MIN_SECRET_LENGTH: Final = 8

_KEY_PATTERN: Final = (
    r"authorization|cookie|passw(or)?d|passphrase|^pass$|secret|token|api[-_]?key"
    r"|credentials?|private[-_]?key|dsn"
)
_MAX_KEYS: Final = 4096  # keys come from code, but a caller could log user-chosen keys
_MAX_SEEN: Final = 1024  # recurring values (user agents); emptied when full
_MAX_DEPTH: Final = 32  # deeper (or cyclic) values are scanned as their repr

_ORDINARY, _SECRET, _TRUSTED = 0, 1, 2
_PLAIN: Final = frozenset({int, float, bool, type(None)})
_SAFE_LEAVES: Final = (int, float, datetime, date, time, timedelta, UUID, Decimal)

# -- value shapes: each found by its fixed part, then matched where it was found ---------

# After "://": a password (user:PASSWORD@), or the key of a DSN (KEY@host/123, or a long
# key@anything); the scheme and the host stay readable.
_USERINFO: Final = re.compile(
    r"://(?:[^\s:/@'\"<>]*:(?P<password>[^\s@/'\"<>]+)"
    r"|(?P<key>[A-Za-z0-9_-]+)(?=@[^\s/@'\"<>]+/\d+(?:$|[\s'\"<>?#,;)\]}]))"
    r"|(?P<long_key>[A-Za-z0-9_-]{16,}))(?=@)"
)
_HOOK_HOST: Final = "hooks.slack.com/"
_HOOK_PATH: Final = re.compile(r"(?:services|workflows|triggers)/([A-Za-z0-9_/-]+)")
_SLACK_TOKEN: Final = re.compile(r"(?:xox[abprse]|xapp)-[A-Za-z0-9-]+")
# An Authorization-style scheme, then its credential (RFC 7235 token68). "Basic" and "token"
# are also ordinary words ("token expired", "Basic Auth"): after them, a word is left alone;
# after "bearer", rarely a word outside a header, anything is a credential.
_AUTH_SCHEMES: Final = (("bearer", False), ("basic", True), ("token", True))
_CREDENTIAL: Final = re.compile(r"[ \t]+([A-Za-z0-9._~+/-]+=*)")
# key=value (query strings, form bodies, cookies, free text) and "key": "value" (JSON, dict
# reprs): found at the separator, when the key before it ends in one of these words. Any
# prefix goes (access_token, client_secret, x-api-key) except for the short words, which
# must be whole (sid, not inside; pass, not bypass). token_count, tokens=3 or password_hash
# are not secrets.
_SHORT_PAIR_KEYS: Final = ("sid", "jwt", "dsn", "csrf", "pass", "pwd")
_PAIR_KEYS: Final = (
    "token",
    "password",
    "passwd",
    "secret",
    "api_key",
    "api-key",
    "apikey",
    "private_key",
    "private-key",
    "session",
    "sessionid",
    "session_id",
    "session-id",
    "credential",
    "credentials",
    *_SHORT_PAIR_KEYS,
)
_KEY_LOOKBACK: Final = 40  # characters before a separator that can hold its key
_KEY_QUOTES: Final = "\"' \t"
# The value: quoted (a bytes repr's b'…' too), or up to the next delimiter.
_PAIR_VALUE: Final = re.compile(
    r"[ \t]*(?:b?\"(?P<double>[^\"]*)\"|b?'(?P<single>[^']*)'|(?P<bare>[^\s&;,\"'<>()\[\]{}]+))"
)

Span = tuple[int, int]


def _lowered(text: str) -> str:
    """``text`` in lower case, character for character (so positions line up): "İ" lowers
    to two characters."""
    return "".join(ch.lower()[:1] or ch for ch in text)


def _starts_word(text: str, pos: int) -> bool:
    return pos == 0 or not text[pos - 1].isalnum()


def _is_a_word(credential: str) -> bool:
    """Random credentials mix cases and digits; a word is lower, Title or UPPER case."""
    return credential.isalpha() and (
        credential.islower() or credential.istitle() or credential.isupper()
    )


def _url_spans(text: str, spans: list[Span]) -> None:
    for match in _USERINFO.finditer(text):
        spans.append(match.span(match.lastgroup or "password"))
    start = text.find(_HOOK_HOST)
    while start >= 0:
        start += len(_HOOK_HOST)
        hook = _HOOK_PATH.match(text, start)
        if hook is not None:
            spans.append(hook.span(1))
        start = text.find(_HOOK_HOST, start)


def _pair_spans(text: str, low: str, spans: list[Span]) -> None:
    for separator in "=:":
        at = low.find(separator)
        while at >= 0:
            key = low[max(0, at - _KEY_LOOKBACK) : at].rstrip(_KEY_QUOTES)
            if key.endswith(_PAIR_KEYS) and _whole_key(key):
                value = _PAIR_VALUE.match(text, at + 1)
                if value is not None and value.lastgroup is not None:
                    start, end = value.span(value.lastgroup)
                    if start < end:
                        spans.append((start, end))
            at = low.find(separator, at + 1)


def _whole_key(key: str) -> bool:
    """False for a short word that ends a longer one: "inside", "bypass"."""
    for word in _SHORT_PAIR_KEYS:
        if key.endswith(word):
            return len(key) == len(word) or not key[-len(word) - 1].isalnum()
    return True


def _credential_spans(text: str, low: str, spans: list[Span]) -> None:
    for scheme, also_a_word in _AUTH_SCHEMES:
        start = low.find(scheme)
        while start >= 0:
            end = start + len(scheme)
            credential = _CREDENTIAL.match(text, end)
            if (
                credential is not None
                and _starts_word(low, start)
                and not (also_a_word and _is_a_word(credential.group(1)))
            ):
                spans.append(credential.span(1))
            start = low.find(scheme, end)


def _mask(text: str, spans: list[Span]) -> str:
    """``text`` with every span (merged where they overlap) replaced by ``[REDACTED]``."""
    spans.sort()
    parts: list[str] = []
    last = 0
    start, end = spans[0]
    for next_start, next_end in spans[1:]:
        if next_start <= end:
            end = max(end, next_end)
            continue
        parts += (text[last:start], REDACTED)
        last, start, end = end, next_start, next_end
    parts += (text[last:start], REDACTED, text[end:])
    return "".join(parts)


class Redactor:
    """Masks secrets by key and by the shape of values; see the module docstring.

    Args:
        extra_keys: more key names (regex fragments) that mark a secret.
        secrets: the configured secrets' values, masked wherever they appear (those shorter
            than :data:`MIN_SECRET_LENGTH` are ignored).
        trusted_keys: keys whose values the toolkit fills itself (timestamp, service…):
            never scanned, so a line pays nothing for them.
    """

    def __init__(
        self,
        extra_keys: Iterable[str] = (),
        *,
        secrets: Iterable[str] = (),
        trusted_keys: Iterable[str] = (),
    ) -> None:
        extra = "|".join(re.escape(k) for k in extra_keys)
        self._pattern = re.compile(_KEY_PATTERN + (f"|{extra}" if extra else ""), re.I)
        # One pattern of them all: a scan in C, however many secrets there are. Longest
        # first, so a secret that contains another is masked whole.
        values = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._secrets = re.compile("|".join(map(re.escape, values))) if values else None
        self._trusted = frozenset(trusted_keys)
        self._keys: dict[Any, int] = {}
        self._seen: dict[str, str] = {}

    # -- keys -------------------------------------------------------------------------------
    def is_secret(self, key: str) -> bool:
        """Whether values under ``key`` are secret (cached per key)."""
        return self._verdict(key) == _SECRET

    def _verdict(self, key: Any) -> int:
        verdict = self._keys.get(key)
        if verdict is None:
            if key in self._trusted:
                verdict = _TRUSTED
            elif isinstance(key, str) and self._pattern.search(key) is not None:
                verdict = _SECRET
            else:
                verdict = _ORDINARY
            if len(self._keys) < _MAX_KEYS:
                self._keys[key] = verdict
        return verdict

    # -- text ---------------------------------------------------------------------------------
    def scrub(self, text: str) -> str:
        """``text`` with every secret-shaped part masked; ``text`` itself when there is none."""
        spans = self._spans(text)
        return _mask(text, spans) if spans else text

    def scrub_repeated(self, text: str) -> str:
        """:meth:`scrub` for values that recur (user agents): remembered, a bounded number."""
        clean = self._seen.get(text)
        if clean is None:
            clean = self.scrub(text)
            if len(self._seen) >= _MAX_SEEN:
                self._seen.clear()  # keeps the values in use now; bounded whatever clients send
            self._seen[text] = clean
        return clean

    @property
    def remembered(self) -> Mapping[str, str]:
        """What :meth:`scrub_repeated` remembers, by value (always the same mapping): a hot
        path looks a value up here and calls :meth:`scrub_repeated` only on a miss."""
        return self._seen

    def contains_secret(self, text: str) -> bool:
        """Whether :meth:`scrub` would mask anything in ``text``."""
        return bool(self._spans(text))

    def _spans(self, text: str) -> list[Span]:
        spans: list[Span] = []
        secrets = self._secrets
        if secrets is not None and secrets.search(text) is not None:
            spans.extend(m.span() for m in secrets.finditer(text))
        if "://" in text:
            _url_spans(text, spans)
        low = text.lower()
        if len(low) != len(text):
            low = _lowered(text)
        if "xox" in low or "xapp-" in low:
            spans.extend(
                m.span() for m in _SLACK_TOKEN.finditer(text) if _starts_word(text, m.start())
            )
        if "=" in text or ":" in text:
            _pair_spans(text, low, spans)
        if "bearer" in low or "basic" in low or "token" in low:
            _credential_spans(text, low, spans)
        return spans

    # -- structures ---------------------------------------------------------------------------
    def redact(self, value: Any) -> Any:
        """``value`` with every secret masked; a mutable mapping is changed in place (and
        returned), what it holds is replaced, never changed."""
        if isinstance(value, MutableMapping):
            self._redact_in_place(value)
            return value
        return self._clean(value, 0)

    def redacted(self, value: Any) -> Any:
        """``value`` with every secret masked, leaving ``value`` untouched (a container
        that held a secret is copied; one that did not is returned as it is)."""
        return self._clean(value, 0)

    def __call__(self, _logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> Any:
        """structlog processor."""
        self._redact_in_place(event_dict)
        return event_dict

    def _redact_in_place(self, mapping: MutableMapping[Any, Any]) -> None:
        for key, value in mapping.items():
            clean = self._clean_item(key, value, 0)
            if clean is not value:
                mapping[key] = clean  # an existing key: safe while iterating

    def _clean_item(self, key: Any, value: Any, depth: int) -> Any:
        verdict = self._keys.get(key)
        if verdict is None:
            verdict = self._verdict(key)
        if verdict == _ORDINARY:
            return self._clean(value, depth + 1)
        if verdict == _SECRET and value is not None and value != "":
            return REDACTED
        return value

    def _clean(self, value: Any, depth: int) -> Any:
        kind = type(value)
        if kind is str:
            return self.scrub(value)
        if kind in _PLAIN:
            return value
        if depth > _MAX_DEPTH:
            return self._clean_text_of(repr(value), value)
        if isinstance(value, Mapping):
            return self._clean_mapping(value, depth)
        if isinstance(value, list | tuple):
            return self._clean_sequence(value, depth)
        if isinstance(value, str):
            return self.scrub(value)
        return self._clean_leaf(value)

    def _clean_mapping(self, mapping: Mapping[Any, Any], depth: int) -> Mapping[Any, Any]:
        copy: dict[Any, Any] | None = None
        for key, value in mapping.items():
            clean = self._clean_item(key, value, depth)
            if clean is not value:
                if copy is None:
                    copy = dict(mapping)
                copy[key] = clean
        return mapping if copy is None else copy

    def _clean_sequence(
        self, seq: list[Any] | tuple[Any, ...], depth: int
    ) -> list[Any] | tuple[Any, ...]:
        # A (name, value) pair such as an ASGI or requests header.
        if len(seq) == 2 and isinstance(seq[0], str | bytes):
            name = seq[0].decode("latin-1") if isinstance(seq[0], bytes) else seq[0]
            if self.is_secret(name) and seq[1] not in (None, "", b""):
                pair = (self._clean(seq[0], depth + 1), REDACTED)
                return list(pair) if isinstance(seq, list) else pair
        items = [self._clean(v, depth + 1) for v in seq]
        if all(new is old for new, old in zip(items, seq, strict=True)):
            return seq
        return items if isinstance(seq, list) else tuple(items)

    def _clean_leaf(self, value: Any) -> Any:
        """Anything else is rendered as its string form (by orjson's fallback, Sentry's
        serializer, Slack's JSON): scan that form, and send it masked if it had a secret."""
        if isinstance(value, _SAFE_LEAVES):
            return value
        if isinstance(value, bytes | bytearray):
            return self._clean_text_of(bytes(value).decode("utf-8", "backslashreplace"), value)
        try:
            text = str(value)
        except Exception:  # noqa: BLE001 - a broken __str__: the renderer will say so itself
            return value
        return self._clean_text_of(text, value)

    def _clean_text_of(self, text: str, value: Any) -> Any:
        spans = self._spans(text)
        return _mask(text, spans) if spans else value
