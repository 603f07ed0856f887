"""Known devices: a signed cookie naming the accounts a browser has signed in to.

OWASP's "Slow Down Online Guessing Attacks with Device Cookies": at each
successful sign-in the browser gets (or keeps) a random device id, and the
account joins the list its cookie names. A later password try from a browser
whose cookie names the account is judged by that (device, account) pair's own
failure counter (:class:`.throttle.Throttle`), so people guessing the password
elsewhere cannot delay its owner.

The cookie is signed with the app's secret key (itsdangerous, :mod:`.signed_values`); accounts appear
in it only as keyed hashes, so a shared computer's cookie does not say who used
it. A forged, altered or other-account cookie names nothing. No Flask here: the
sign-in module reads and writes the cookie.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from itsdangerous import BadSignature

from .signed_values import SignedValues

COOKIE = "uness_device"
MAX_AGE = 400 * 86400  # the longest browsers keep a cookie
MAX_ACCOUNTS = 20  # a shared workstation: the most recent ones are kept


class KnownDevices:
    def __init__(self, secret_key: str) -> None:
        self.secret = secret_key.encode()
        self.serializer = SignedValues(secret_key, salt="known-device")

    def _ref(self, account_id: str) -> str:
        message = b"known-device\x00" + account_id.encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()[:24]

    def _read(self, cookie: str | None) -> tuple[str, list[str]] | None:
        if not cookie:
            return None
        try:
            data = self.serializer.loads(cookie)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("d"), str):
            return None
        if not isinstance(data.get("a"), list):
            return None
        return data["d"], [ref for ref in data["a"] if isinstance(ref, str)]

    def device_for(self, cookie: str | None, account_id: str) -> str | None:
        """The device id of a valid cookie that names ``account_id``, else None."""
        found = self._read(cookie)
        if found is None:
            return None
        device, refs = found
        ref = self._ref(account_id)
        return device if any(hmac.compare_digest(ref, r) for r in refs) else None

    def remember(self, cookie: str | None, account_id: str) -> str:
        """The cookie's new value once ``account_id`` signed in: same device id if valid, account first."""
        device, refs = self._read(cookie) or (secrets.token_urlsafe(18), [])
        ref = self._ref(account_id)
        refs = [ref, *(r for r in refs if r != ref)][:MAX_ACCOUNTS]
        return self.serializer.dumps({"d": device, "a": refs})
