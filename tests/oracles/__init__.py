"""SP-behaviour oracles (checklist TST07): what an unmodified SP would make of a gateway Response.

* :mod:`.shibsp3`: Shibboleth SP 3 with its default attribute-map, attribute-policy
  and security policy (checklist H);
* :mod:`.ssp2`: SimpleSAMLphp 2.x ``modules/saml/src/Message.php`` and its ACS
  (checklist I);
* :mod:`.saml`: what both share (metadata, decryption, signature checks);
* :mod:`.harness`: runs every Response the tests receive through both.

Each oracle raises :class:`.saml.Refused` where the real SP shows an error page.
"""
