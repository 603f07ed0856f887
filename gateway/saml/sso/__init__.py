"""Single sign-on: from an AuthnRequest (or a portal link) to the signed Response.

``authn_request`` (every check of an AuthnRequest), ``acs`` (where the Response
goes), ``pending`` (requests waiting for sign-in), ``answer`` (answering a
signed-in person: NameID, attributes), ``response`` (building, signing and
encrypting the samlp:Response) and ``initiated`` (IdP-initiated SSO's checks).
"""
