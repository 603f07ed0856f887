"""Remote SP metadata aggregates (gateway/saml/sp/aggregates.py), served from a local http.server thread."""
from __future__ import annotations

import datetime
import http.server
import logging
import os
import threading
import time
from pathlib import Path

import pytest
import xmlsec
from lxml import etree

from gateway.saml.sp import aggregates
from gateway.saml.sp.aggregates import Aggregate, AggregateError
from tests.conftest import make_app

from .conftest import make_key

MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"


def entity(entity_id: str, sp: bool = True) -> str:
    if not sp:
        return (f'<md:EntityDescriptor entityID="{entity_id}">'
                '<md:IDPSSODescriptor protocolSupportEnumeration='
                f'"urn:oasis:names:tc:SAML:2.0:protocol"><md:SingleSignOnService Binding='
                f'"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{entity_id}/sso"/>'
                f'</md:IDPSSODescriptor></md:EntityDescriptor>')
    return (f'<md:EntityDescriptor entityID="{entity_id}"><md:SPSSODescriptor protocolSupportEnumeration='
            f'"urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService Binding='
            f'"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{entity_id}/acs" index="0"/>'
            f'</md:SPSSODescriptor></md:EntityDescriptor>')


def unsigned(entity_ids: list[str], days: float = 7, extra: str = "", root_id: str = "agg") -> etree._Element:
    until = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    xml = (f'<md:EntitiesDescriptor xmlns:md="{MD_NS}" ID="{root_id}" validUntil="{until}" Name="test">'
           + "".join(entity(e) for e in entity_ids) + extra + "</md:EntitiesDescriptor>")
    return etree.fromstring(xml)


def sign(root: etree._Element, key_file: str) -> etree._Element:
    signature = xmlsec.template.create(root, xmlsec.constants.TransformExclC14N,
                                       xmlsec.constants.TransformRsaSha256)
    root.insert(0, signature)
    ref = xmlsec.template.add_reference(signature, xmlsec.constants.TransformSha256, uri="#" + root.get("ID"))
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformExclC14N)
    xmlsec.tree.add_ids(root, ["ID"])
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_file(key_file, xmlsec.constants.KeyDataFormatPem)
    context.sign(signature)
    return root


def signed(entity_ids: list[str], key_file: str, **kwargs) -> bytes:
    return etree.tostring(sign(unsigned(entity_ids, **kwargs), key_file))


class Served:
    """A local http.server thread answering /agg.xml with ``body`` (None: 500)."""

    def __init__(self) -> None:
        self.body: bytes | None = None
        served = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if served.body is None:
                    self.send_error(500)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/samlmetadata+xml")
                self.send_header("Content-Length", str(len(served.body)))
                self.end_headers()
                self.wfile.write(served.body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/agg.xml"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fed_key(tmp_path_factory):
    return make_key(tmp_path_factory.mktemp("fed"), "federation")


@pytest.fixture
def served():
    server = Served()
    yield server
    server.close()


@pytest.fixture
def aggregate(served, fed_key, tmp_path) -> Aggregate:
    return Aggregate(served.url, fed_key.cert_file, str(tmp_path / "cache"), 3600)


@pytest.fixture
def agg_config(saml_config, aggregate) -> dict:
    saml = dict(saml_config["saml"])
    saml["aggregates"] = [{"url": aggregate.url, "cert": aggregate.cert, "cache_dir": aggregate.cache_dir,
                           "refresh_seconds": 3600}]
    return {**saml_config, "saml": saml}


def idp_of(config: dict):
    return make_app(config).extensions["gateway.saml"]


def make_stale(aggregate: Aggregate) -> None:
    old = time.time() - 2 * aggregate.refresh_seconds
    os.utime(aggregate.cache_file, (old, old))


def test_good_load_only_sp_entities(served, fed_key, agg_config, aggregate, sps, redis_client):
    served.body = (signed(["https://a.example.org/sp", "https://b.example.org/sp"], fed_key.key_file,
                          extra=entity("https://idp.example.org/idp", sp=False)))
    idp = idp_of(agg_config)
    assert "https://a.example.org/sp" in idp.providers
    assert "https://b.example.org/sp" in idp.providers
    assert "https://idp.example.org/idp" not in idp.providers
    assert idp.providers["https://a.example.org/sp"].acs[0].location == "https://a.example.org/sp/acs"
    assert sps["MAIN"].entity_id in idp.providers  # the local folder still loads
    assert aggregate.cache_file.read_bytes() == served.body


def test_bad_signature_keeps_last_good(served, fed_key, agg_config, aggregate, keys, redis_client, caplog):
    served.body = signed(["https://a.example.org/sp"], fed_key.key_file)
    idp = idp_of(agg_config)
    good = aggregate.cache_file.read_bytes()
    evil = ["https://a.example.org/sp", "https://evil.example.org/sp"]
    served.body = signed(evil, keys["intruder"].key_file)
    make_stale(aggregate)
    with caplog.at_level(logging.WARNING, "gateway.saml.aggregates"):
        assert idp.aggregates.check() is False
    assert "https://evil.example.org/sp" not in idp.providers
    assert "https://a.example.org/sp" in idp.providers
    assert aggregate.cache_file.read_bytes() == good
    lines = [r for r in caplog.records
             if r.name == "gateway.saml.aggregates" and r.levelno >= logging.WARNING]
    assert len(lines) == 1 and "bad signature" in lines[0].getMessage()


def test_tampered_content_refused(fed_key):
    document = signed(["https://a.example.org/sp"], fed_key.key_file)
    document = document.replace(b"a.example.org", b"x.example.org")
    with pytest.raises(AggregateError, match="bad signature"):
        aggregates.verified(document, Path(fed_key.cert_file).read_bytes())


def test_expired_valid_until_refused(served, fed_key, agg_config, aggregate, redis_client):
    served.body = signed(["https://a.example.org/sp"], fed_key.key_file, days=-1)
    with pytest.raises(AggregateError, match="expired"):
        aggregates.verified(served.body, Path(fed_key.cert_file).read_bytes())
    idp = idp_of(agg_config)
    assert "https://a.example.org/sp" not in idp.providers
    assert not aggregate.cache_file.exists()


def test_network_down_uses_disk_cache(served, fed_key, agg_config, aggregate, redis_client):
    cached = signed(["https://cached.example.org/sp"], fed_key.key_file)
    aggregates.write_atomically(aggregate.cache_file, cached)
    make_stale(aggregate)  # stale: the start tries the network first
    served.close()
    idp = idp_of(agg_config)
    assert "https://cached.example.org/sp" in idp.providers


def test_refresh_picks_up_new_sp(served, fed_key, agg_config, aggregate, redis_client):
    served.body = signed(["https://a.example.org/sp"], fed_key.key_file)
    idp = idp_of(agg_config)
    assert "https://new.example.org/sp" not in idp.providers
    served.body = signed(["https://new.example.org/sp"], fed_key.key_file)
    assert idp.aggregates.check() is False  # the cache is fresh: nothing fetched
    make_stale(aggregate)
    assert idp.aggregates.check() is True
    assert "https://new.example.org/sp" in idp.providers
    assert "https://a.example.org/sp" not in idp.providers  # gone from the aggregate: gone


def test_changed_entity_is_read_again(served, fed_key, agg_config, aggregate, redis_client):
    """An SP already read is read again once the aggregate reloads with its entity changed."""
    served.body = signed(["https://a.example.org/sp", "https://b.example.org/sp"], fed_key.key_file)
    idp = idp_of(agg_config)
    assert idp.providers["https://a.example.org/sp"].acs[0].location == "https://a.example.org/sp/acs"
    kept = idp.providers["https://b.example.org/sp"]
    moved = entity("https://a.example.org/sp").replace("sp/acs", "sp/new-acs")
    served.body = signed(["https://b.example.org/sp"], fed_key.key_file, extra=moved)
    make_stale(aggregate)
    assert idp.aggregates.check() is True
    assert idp.providers["https://a.example.org/sp"].acs[0].location == "https://a.example.org/sp/new-acs"
    assert idp.providers["https://b.example.org/sp"] is kept  # unchanged: not read again


def test_expired_entity_is_no_sp(served, fed_key, agg_config, aggregate, redis_client, caplog):
    """An entity past its own validUntil, inside a valid aggregate, is refused when first asked for;
    the aggregate's other SPs are served."""
    past = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    old = entity("https://old.example.org/sp").replace(
        'entityID="https://old.example.org/sp"', f'entityID="https://old.example.org/sp" validUntil="{past}"')
    served.body = signed(["https://a.example.org/sp"], fed_key.key_file, extra=old)
    idp = idp_of(agg_config)
    with caplog.at_level(logging.WARNING, "gateway.saml.aggregates"):
        assert idp.providers.get("https://old.example.org/sp") is None
        assert "https://old.example.org/sp" not in idp.providers  # the refusal is kept: no second line
    assert "https://a.example.org/sp" in idp.providers
    lines = [r.getMessage() for r in caplog.records
             if r.name == "gateway.saml.aggregates" and r.levelno >= logging.WARNING]
    assert len(lines) == 1 and "old.example.org" in lines[0]


def test_other_worker_picks_up_cache_file(served, fed_key, agg_config, aggregate, redis_client):
    """A worker that did not fetch sees the new cache file (mtime changed) and reloads it."""
    served.body = signed(["https://a.example.org/sp"], fed_key.key_file)
    idp = idp_of(agg_config)
    aggregates.write_atomically(aggregate.cache_file, signed(["https://b.example.org/sp"], fed_key.key_file))
    assert idp.aggregates.check() is True
    assert "https://b.example.org/sp" in idp.providers


def test_wrapping_attempt_refused(fed_key):
    cert = Path(fed_key.cert_file).read_bytes()
    good = etree.fromstring(signed(["https://a.example.org/sp"], fed_key.key_file))
    original_signature = good.find(f"{{{DS_NS}}}Signature")
    # the signed document hidden in an Extensions of a forged root with the same ID and the signature moved up
    forged = unsigned(["https://evil.example.org/sp"])
    extensions = etree.SubElement(forged, f"{{{MD_NS}}}Extensions")
    forged.insert(0, original_signature)
    extensions.append(good)
    with pytest.raises(AggregateError):
        aggregates.verified(etree.tostring(forged), cert)
    # a forged root whose signature references another element
    other = unsigned(["https://evil.example.org/sp"], root_id="forged")
    other.insert(0, etree.fromstring(etree.tostring(original_signature)))
    inner = etree.fromstring(signed(["https://a.example.org/sp"], fed_key.key_file))
    etree.SubElement(other, f"{{{MD_NS}}}Extensions").append(inner)
    with pytest.raises(AggregateError, match="Reference|ds:Signature"):
        aggregates.verified(etree.tostring(other), cert)
    # two References
    doubled = etree.fromstring(signed(["https://a.example.org/sp"], fed_key.key_file))
    signed_info = doubled.find(f"{{{DS_NS}}}Signature/{{{DS_NS}}}SignedInfo")
    reference = signed_info.find(f"{{{DS_NS}}}Reference")
    signed_info.append(etree.fromstring(etree.tostring(reference)))
    with pytest.raises(AggregateError, match="exactly one Reference"):
        aggregates.verified(etree.tostring(doubled), cert)


def test_only_http_urls():
    with pytest.raises(AggregateError, match="http"):
        aggregates.fetch("file:///etc/passwd")


def test_settings_problems(saml_config):
    from gateway.saml.settings import SamlSettings
    table = {"url": "ftp://x", "cert": "", "cache_dir": "", "refresh_seconds": 1}
    settings = SamlSettings(aggregates=(table,))
    found = "\n".join(settings.problems(False))
    assert "aggregates[0].url" in found and "aggregates[0].cert" in found
    assert "aggregates[0].cache_dir" in found and "aggregates[0].refresh_seconds" in found
