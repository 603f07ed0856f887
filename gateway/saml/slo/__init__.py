"""Single logout: who took part in a session, and telling each of them.

``participants`` (which SPs took part, what they were given), ``messages``
(LogoutRequest and LogoutResponse, in and out), ``chain`` (the front-channel
chain through the SPs and the logout hook) and ``backchannel`` (SOAP logout,
queued, when no browser can carry the chain).
"""
