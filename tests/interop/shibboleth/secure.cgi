#!/usr/bin/python3
"""The page the Shibboleth SP protects: REMOTE_USER, the Shib-* variables and the attributes, one per line.

Apache's CGI environment turns every character that is not a letter, digit or '_' into '_':
mod_shib's "persistent-id" and "Shib-Identity-Provider" arrive as persistent_id and Shib_Identity_Provider.
"""
import os

NAMES = ("REMOTE_USER", "AUTH_TYPE", "eppn", "mail", "displayName", "givenName", "sn", "cn", "affiliation",
         "unscoped_affiliation", "primary_affiliation", "persistent_id", "subject_id", "pairwise_id",
         "supannEtablissement")
print("Content-Type: text/plain; charset=utf-8\r\n\r", end="\n")
for name in sorted(os.environ):
    if name in NAMES or name.lower().startswith("shib"):
        print(f"{name}={os.environ[name]}")
