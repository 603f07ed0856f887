"""Single-use secrets sent by mail: links (reset) and 6-digit codes (sign-in, activation, address check).

Only keyed hashes are stored (HMAC with the gateway's secret), never the
secret itself. Everything has a TTL and is consumed atomically:

* a **link token** (``issue_link`` / ``peek_link`` / ``redeem_link``) is 256 random
  bits; issuing a new one for the same account and purpose voids the previous
  one; ``peek`` reads without consuming (mail scanners open links), ``redeem``
  consumes (``GETDEL``);
* a **code flow** (``start_code`` / ``check_code``) has an opaque flow id (in the
  person's session and in the mailed link) and a 6-digit code; each wrong try
  counts, and the code is void after ``attempts`` wrong tries. Starting a flow
  voids the previous one of the same (purpose, subject), whichever browser
  started it: one account has at most ``attempts`` guesses at one live code.

Each link and flow also leaves a **trace** (its data, never the secret) for
``TRACE_TTL`` after it was issued, live or not: the page of a mailed link opened
after its end can say so, name the (masked) address and offer a new one
(``link_trace`` / ``flow_trace``).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

import redis

from ..store import Store, key
from .errors import AccountsError

# KEYS: the flow hash. ARGV: the code's digest. Returns {status, payload, remaining}.
_CHECK = """
local digest = redis.call('HGET', KEYS[1], 'digest')
if not digest then return {'unknown', '', ''} end
local payload = redis.call('HGET', KEYS[1], 'payload')
if digest == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return {'ok', payload, ''}
end
local left = redis.call('HINCRBY', KEYS[1], 'left', -1)
if left <= 0 then redis.call('DEL', KEYS[1]) end
return {'wrong', payload, tostring(left)}
"""


#: How long a link's or code flow's data stays known after it was issued (its page says what happened).
TRACE_TTL = 7 * 86400


class InvalidCode(AccountsError):
    """Unknown, used, expired or voided link or code."""


class WrongCode(InvalidCode):
    """The code does not match; ``remaining`` tries are left (0: the code is now void).

    ``data`` is the flow's data (whose code was tried), for the audit trail.
    """

    def __init__(self, remaining: int, data: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"wrong code, {remaining} tries left")
        self.remaining = remaining
        self.data = dict(data or {})


class Codes:
    """Issue and redeem single-use links and codes."""

    def __init__(self, store: Store, secret: str, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._secret = secret.encode()
        self._check = store.script(_CHECK)
        #: Redis TTLs remove expired entries; ``exp`` checked against this clock too (tests move it).
        self.clock = clock

    def _live(self, raw: str | None) -> dict[str, Any] | None:
        data = None if raw is None else dict(json.loads(raw))
        if data is None or data.get("exp", float("inf")) <= self.clock():
            return None
        return data

    def _digest(self, *parts: str) -> str:
        return hmac.new(self._secret, "\x00".join(parts).encode(), hashlib.sha256).hexdigest()

    # -- links ---------------------------------------------------------------------
    def issue_link(self, purpose: str, account_id: str, ttl: int, data: Mapping[str, Any] | None = None) -> str:
        """A new link token; the previous one for (purpose, account) is void from now on."""
        token = secrets.token_urlsafe(32)
        digest = self._digest(purpose, token)
        payload = json.dumps({"account": account_id, **(data or {}), "exp": self.clock() + ttl})
        latest = key("link-latest", purpose, account_id)
        previous = cast("str | None", self.store.redis.set(latest, digest, ex=ttl, get=True))
        pipe = self.store.redis.pipeline()
        if previous:
            pipe.delete(key("link", purpose, previous))
        pipe.set(key("link", purpose, digest), payload, ex=ttl)
        pipe.set(key("link-trace", purpose, digest), payload, ex=max(ttl, TRACE_TTL))
        pipe.execute()
        return token

    def link_trace(self, purpose: str, token: str) -> dict[str, Any] | None:
        """The data a link was issued with, used or not, expired or not (for ``TRACE_TTL``)."""
        if not token:
            return None
        raw = self.store.redis.get(key("link-trace", purpose, self._digest(purpose, token)))
        return None if raw is None else dict(json.loads(raw))

    def peek_link(self, purpose: str, token: str) -> dict[str, Any] | None:
        """The link's data without consuming it (GET of a mailed link)."""
        raw = self.store.redis.get(key("link", purpose, self._digest(purpose, token))) if token else None
        return self._live(raw)

    def redeem_link(self, purpose: str, token: str) -> dict[str, Any]:
        """Consume the link. Raises InvalidCode. Deleted atomically: works once."""
        raw = self.store.redis.getdel(key("link", purpose, self._digest(purpose, token))) if token else None
        data = self._live(raw)
        if data is None:
            raise InvalidCode("unknown, used or expired link")
        return data

    def latest_link(self, purpose: str, account_id: str) -> dict[str, Any] | None:
        """The data of (purpose, account)'s outstanding link while it works (unused, unexpired), or None."""
        digest = self.store.redis.get(key("link-latest", purpose, account_id))
        return self._live(self.store.redis.get(key("link", purpose, digest))) if digest else None

    def void_links(self, purpose: str, account_id: str) -> None:
        """Void the outstanding link of (purpose, account), e.g. once the password changed."""
        previous = self.store.redis.getdel(key("link-latest", purpose, account_id))
        if previous:
            self.store.redis.delete(key("link", purpose, previous))

    # -- codes ---------------------------------------------------------------------
    def start_code(
        self, purpose: str, subject: str, ttl: int, attempts: int, data: Mapping[str, Any]
    ) -> tuple[str, str]:
        """A new (flow id, 6-digit code); the previous flow of (purpose, subject) is void from now on.

        ``subject`` is whose code it is (an account id), whatever the browser: a
        code asked from a second browser voids the first one's, so opening more
        browsers buys no more guesses. Atomic (WATCH/MULTI): two flows started at
        once leave one live.
        """
        flow = secrets.token_urlsafe(24)
        code = f"{secrets.randbelow(10**6):06d}"
        name, latest = key("code", purpose, flow), key("code-latest", purpose, subject)
        fields = {"digest": self._digest(purpose, flow, code), "left": attempts,
                  "payload": json.dumps({**data, "exp": self.clock() + ttl})}

        def replace(pipe: redis.client.Pipeline) -> None:
            previous = pipe.get(latest)
            pipe.multi()
            if previous:
                pipe.delete(key("code", purpose, str(previous)))
            pipe.hset(name, mapping=fields)
            pipe.expire(name, ttl)
            pipe.set(latest, flow, ex=ttl)
            pipe.set(key("code-trace", purpose, flow), fields["payload"], ex=max(ttl, TRACE_TTL))

        self.store.redis.transaction(replace, latest)
        return flow, code

    def latest_flow(self, purpose: str, subject: str) -> str | None:
        """The id of the flow of (purpose, subject) started last, if it has not ended (it may be spent)."""
        flow = self.store.redis.get(key("code-latest", purpose, subject))
        return None if flow is None else str(flow)

    def code_data(self, purpose: str, flow: str) -> dict[str, Any] | None:
        """The flow's data if it is still open (without trying a code)."""
        raw = self.store.redis.hget(key("code", purpose, flow), "payload") if flow else None
        return self._live(raw)

    def flow_trace(self, purpose: str, flow: str) -> dict[str, Any] | None:
        """The data a code flow was started with, spent, voided or expired or not (for ``TRACE_TTL``)."""
        raw = self.store.redis.get(key("code-trace", purpose, flow)) if flow else None
        return None if raw is None else dict(json.loads(raw))

    def check_code(self, purpose: str, flow: str, code: str) -> dict[str, Any]:
        """Consume the flow if ``code`` is right. Raises WrongCode (counts a try) or InvalidCode."""
        code = "".join(code.split())
        if not flow:
            raise InvalidCode("no code flow")
        status, payload, left = self._check(keys=[key("code", purpose, flow)],
                                            args=[self._digest(purpose, flow, code)])
        if status == "ok":
            data = self._live(payload)
            if data is None:
                raise InvalidCode("expired code")
            return data
        if status == "wrong":
            raise WrongCode(max(int(left), 0), json.loads(payload))
        raise InvalidCode("unknown, used or expired code")
