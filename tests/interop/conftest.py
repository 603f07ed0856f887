"""A real Shibboleth SP 3 (Apache 2.4 + mod_shib + shibd, Debian packages) in front of the live gateway.

Everything runs on loopback, on free ports, from one temporary folder: Apache with
its own ServerRoot, PidFile and logs; shibd with its own shibboleth2.xml (rendered
from ``shibboleth/``), socket, logs and keys (made with ``openssl``). Debian's
``/etc/shibboleth`` is only read (attribute-policy.xml, security-policy.xml,
protocols.xml, the attribute map the Renater entries are added to, the HTML
templates), never written.

The packages (``apache2``, ``libapache2-mod-shib``, which brings ``shibd`` through
``shibboleth-sp-utils``) are in the Makefile's SYSTEM_PACKAGES; when they are missing
and the tests run as root, the fixture installs them with ``deploy/ensure-packages.sh``.
Without root they cannot be installed, and Apache cannot switch to www-data, so
the test is skipped with that reason.

Order, so that each side has the other's metadata:

1. shibd + Apache start without IdP metadata; ``/Shibboleth.sso/Metadata`` gives the SP's;
2. it goes in the gateway's SP metadata folder, then gunicorn starts (tests/conftest.py's launcher;
   the gateway reads
   SP metadata once, at start) and ``/saml/metadata`` is saved for shibd;
3. shibd restarts with it (Apache and mod_shib reconnect to the new shibd on their own).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from string import Template

import pytest
import requests
from lxml import etree

from gateway.accounts.models import Account
from tests.conftest import Gunicorn, RedisServer, free_port
from tests.helpers.servers import ROOT, stop_group

HERE = Path(__file__).resolve().parent / "shibboleth"
PACKAGES = ("apache2", "libapache2-mod-shib")
APACHE = Path("/usr/sbin/apache2")
SHIBD = Path("/usr/sbin/shibd")
MODULES = Path("/usr/lib/apache2/modules")
ETC = Path("/etc/shibboleth")
#: The legacy account of the issue: a Renater eppn (legacy scope), and the identifier the SP already stores.
EPPN = "jdupont@univ-exemple.fr"
LEGACY_ID = "Vh3kQ9+zX2mB7pL0tR5wY8cF1dG4=="


def _missing() -> list[str]:
    needed = (APACHE, SHIBD, MODULES / "mod_shib.so", MODULES / "mod_cgi.so", ETC / "attribute-map.xml")
    return [str(p) for p in needed if not p.exists()]


@pytest.fixture(scope="session")
def shibboleth_packages() -> None:
    """Apache and the Shibboleth SP, installed when missing (as root), else a skip that says why."""
    if os.geteuid() != 0:
        pytest.skip("the Shibboleth SP interop test runs as root: it may install apache2 and "
                    "libapache2-mod-shib with apt-get, and Apache must start its children as www-data")
    if _missing():
        if shutil.which("apt-get") is None:
            pytest.skip(f"no apt-get to install {' '.join(PACKAGES)} (missing: {', '.join(_missing())})")
        done = subprocess.run([str(ROOT / "deploy/ensure-packages.sh"), *PACKAGES], capture_output=True,
                              text=True, timeout=600)
        if done.returncode != 0 or _missing():
            pytest.skip(f"cannot install {' '.join(PACKAGES)} here (exit {done.returncode}): "
                        f"{(done.stderr or done.stdout).strip()[-500:]}")


def render(name: str, target: Path, **values: object) -> Path:
    target.write_text(Template((HERE / name).read_text()).substitute({k: str(v) for k, v in values.items()}))
    return target


def attribute_map() -> bytes:
    """Debian's default map, plus the entries Renater SPs enable (mail, displayName, names...)."""
    parser = etree.XMLParser(remove_blank_text=False)
    base = etree.parse(str(ETC / "attribute-map.xml"), parser)
    extra = etree.parse(str(HERE / "attribute-map-renater.xml"), parser)
    for element in extra.getroot():
        if isinstance(element.tag, str):
            base.getroot().append(element)
    return etree.tostring(base, xml_declaration=True, encoding="UTF-8")


class ShibbolethSP:
    """Apache (prefork, mod_shib, mod_cgi) and shibd, both on 127.0.0.1, in ``root``."""

    def __init__(self, root: Path, idp_entity_id: str) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.entity_id = self.url + "/shibboleth"
        self.idp_entity_id = idp_entity_id
        self.conf = root / "conf"
        self.run = root / "run"
        self.logs = root / "logs"
        self.shibd: subprocess.Popen[bytes] | None = None
        self.apache: subprocess.Popen[bytes] | None = None
        for folder in (self.conf, self.run, self.logs, root / "htdocs", root / "cgi-bin"):
            folder.mkdir(parents=True)
        # Apache's children (www-data) read the configuration, talk to shibd's socket, write native.log.
        for folder in (root, self.conf, self.run, root / "htdocs", root / "cgi-bin"):
            folder.chmod(0o755)
        self.logs.chmod(0o777)
        self._configure()

    def _configure(self) -> None:
        for use in ("signing", "encrypt"):
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-sha256",
                 "-subj", "/CN=127.0.0.1", "-keyout", str(self.conf / f"sp-{use}-key.pem"),
                 "-out", str(self.conf / f"sp-{use}-cert.pem")],
                check=True, capture_output=True, timeout=60)
            (self.conf / f"sp-{use}-key.pem").chmod(0o644)  # a throwaway key, read by the children too
        (self.conf / "attribute-map.xml").write_bytes(attribute_map())
        shutil.copy(ETC / "attribute-policy.xml", self.conf / "attribute-policy.xml")  # Debian's: scope checks
        render("shibd.logger", self.conf / "shibd.logger", logs=self.logs)
        render("native.logger", self.conf / "native.logger", logs=self.logs)
        self.write_shibboleth2(idp_metadata=None)
        render("httpd.conf", self.root / "httpd.conf", root=self.root, logs=self.logs, port=self.port,
               modules=MODULES, conf=self.conf)
        (self.root / "htdocs" / "index.html").write_text("<p>public</p>\n")
        cgi = self.root / "cgi-bin" / "secure.cgi"
        shutil.copy(HERE / "secure.cgi", cgi)
        cgi.chmod(0o755)
        for path in self.conf.iterdir():
            path.chmod(0o644)

    def write_shibboleth2(self, idp_metadata: Path | None) -> None:
        provider = (f'<MetadataProvider type="XML" validate="true" path="{idp_metadata}"/>'
                    if idp_metadata else "<!-- no IdP metadata yet: the SP's own is fetched first -->")
        render("shibboleth2.xml", self.conf / "shibboleth2.xml", conf=self.conf, run=self.run, etc=ETC,
               sp_entity_id=self.entity_id, idp_entity_id=self.idp_entity_id, metadata_provider=provider)
        (self.conf / "shibboleth2.xml").chmod(0o644)

    # -- processes ---------------------------------------------------------------------------------------

    def start_shibd(self) -> None:
        with (self.logs / "shibd.out").open("ab") as out:
            self.shibd = subprocess.Popen(
                [str(SHIBD), "-F", "-f", "-c", str(self.conf / "shibboleth2.xml"),
                 "-p", str(self.run / "shibd.pid"), "-w", "30"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        socket = self.run / "shibd.sock"
        deadline = time.monotonic() + 30
        while not socket.exists():
            if self.shibd.poll() is not None:
                pytest.fail(f"shibd exited with {self.shibd.returncode}:\n{self.logs_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"shibd did not open {socket} within 30 s:\n{self.logs_text()}")
            time.sleep(0.1)

    def stop_shibd(self) -> None:
        stop_group(self.shibd)
        self.shibd = None

    def restart_shibd(self, idp_metadata: Path) -> None:
        self.stop_shibd()
        self.write_shibboleth2(idp_metadata)
        self.start_shibd()
        self.wait_status()

    def start_apache(self) -> None:
        with (self.logs / "apache.out").open("ab") as out:
            self.apache = subprocess.Popen(
                [str(APACHE), "-f", str(self.root / "httpd.conf"), "-DFOREGROUND"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env={"PATH": os.environ["PATH"]})
        self.wait_status()

    def wait_status(self, timeout: float = 30) -> None:
        """Until mod_shib answers /Shibboleth.sso/Status through shibd."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.apache is not None and self.apache.poll() is not None:
                pytest.fail(f"apache2 exited with {self.apache.returncode}:\n{self.logs_text()}")
            try:
                response = requests.get(self.url + "/Shibboleth.sso/Status", timeout=5)
                if response.status_code == 200 and "<OK/>" in response.text:
                    return
                last = f"{response.status_code} {response.text[:300]}"
            except requests.RequestException as exc:
                last = repr(exc)
            time.sleep(0.2)
        pytest.fail(f"the Shibboleth SP did not answer /Shibboleth.sso/Status within {timeout} s ({last}):\n"
                    + self.logs_text())

    def stop(self) -> None:
        stop_group(self.apache)
        self.apache = None
        self.stop_shibd()

    def log(self, name: str) -> str:
        path = self.logs / name
        return path.read_text(errors="replace") if path.exists() else ""

    def logs_text(self) -> str:
        return "\n".join(f"----- {name} -----\n{self.log(name)[-12000:]}"
                         for name in ("shibd.log", "shibd.out", "native.log", "apache-error.log", "apache.out"))


def live_gateway(redis_url: str, log: Path, port: int, sp_dir: Path) -> Gunicorn:
    """The gateway under gunicorn (tests.conftest's launcher) on ``port`` (the SPs were given its entityID
    before it started), trusting the SP metadata in ``sp_dir``; ready."""
    return Gunicorn(redis_url, log, {"GATEWAY_SAML_SP_METADATA_DIR": str(sp_dir)}, port=port).start()


class Interop:
    """What the test needs: both servers, the account, and where the logs are."""

    def __init__(self, sp: ShibbolethSP, gateway: Gunicorn, account: Account) -> None:
        self.sp = sp
        self.gateway = gateway
        self.account = account

    def logs(self) -> str:
        return self.sp.logs_text() + f"\n----- gunicorn -----\n{self.gateway.output()[-8000:]}"


@pytest.fixture
def interop(shibboleth_packages, redis_server: RedisServer, redis_client, make_account,
            tmp_path: Path) -> Iterator[Interop]:
    # /tmp/pytest-of-root is 0700: Apache's children (www-data) need a folder of their own they can enter.
    root = Path(tempfile.mkdtemp(prefix="uness-shibsp-", dir="/tmp"))
    root.chmod(0o755)
    gateway_port = free_port()
    idp_entity_id = f"http://127.0.0.1:{gateway_port}/saml/metadata"
    sp = gateway = None
    try:
        sp = ShibbolethSP(root / "sp", idp_entity_id)
        sp.start_shibd()
        sp.start_apache()
        metadata = requests.get(sp.url + "/Shibboleth.sso/Metadata", timeout=10)
        assert metadata.status_code == 200 and sp.entity_id in metadata.text, metadata.text[:500]

        sp_dir = tmp_path / "sp-metadata"
        sp_dir.mkdir()
        (sp_dir / "shibboleth-sp.xml").write_bytes(metadata.content)
        account = make_account("jean.dupont@univ-exemple.fr", account_id="jdupont", given_name="Jean",
                               family_name="Dupont", display_name="Jean Dupont",
                               affiliations=("staff", "member"), establishment="{UAI}0751717J", eppn=EPPN,
                               legacy_ids={sp.entity_id: LEGACY_ID})
        gateway = live_gateway(redis_server.url, tmp_path / "gunicorn.log", gateway_port, sp_dir)

        idp_metadata = requests.get(gateway.url + "/saml/metadata", timeout=10)
        assert idp_metadata.status_code == 200, idp_metadata.text[:500]
        saved = sp.conf / "idp-metadata.xml"
        saved.write_bytes(idp_metadata.content)
        saved.chmod(0o644)
        sp.restart_shibd(saved)
        yield Interop(sp, gateway, account)
    finally:
        if gateway is not None:
            gateway.stop()
        if sp is not None:
            sp.stop()
        shutil.rmtree(root, ignore_errors=True)
