"""Values signed for a cookie (itsdangerous' URL-safe serializer), never compressed.

itsdangerous' :class:`~itsdangerous.URLSafeSerializer` tries ``zlib.compress`` on every
value it signs, keeping the result when it is shorter. Setting up a deflate stream
allocates and clears a few hundred KiB; right after an argon2id verify (19 MiB swept
through the caches) that costs a sign-in about 0.1 ms per cookie, for values
(the known-device cookie, the last address) of a few dozen bytes. These are signed
as plain base64 JSON instead. Reading is unchanged: a value signed compressed by
the plain serializer (a cookie set before) still loads, and only once its signature
has been checked (itsdangerous unsigns before it decompresses).
"""
from __future__ import annotations

from typing import Any

from itsdangerous import URLSafeSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.serializer import Serializer


class SignedValues(URLSafeSerializer):
    """:class:`~itsdangerous.URLSafeSerializer` (same secret, salt and signature) that never compresses."""

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))
