"""Remote SP metadata aggregates (the Renater SP aggregate is the model): fetched, verified, cached.

``saml.aggregates`` lists tables ``{url, cert, refresh_seconds, cache_dir}``. For each:

* **fetch** -- urllib, http(s) only, with a timeout and a size cap;
* **check** -- defusedxml first (no DTD, entity or external reference), then the
  hardened lxml parser; the root must be an ``md:EntitiesDescriptor`` carrying an
  ``ID``; it must hold exactly one enveloped ``ds:Signature`` (a direct child)
  with exactly one ``ds:Reference``, whose URI is ``#<root ID>``, and that ID must
  be unique in the document (no signature wrapping); xmlsec verifies it with the
  configured certificate and nothing else (no key from KeyInfo is trusted);
  ``validUntil`` in the past refuses the document;
* **cache** -- the good copy is written atomically (temporary file + rename) into
  ``cache_dir``; a refresh that fails (network, signature, validUntil) keeps the
  last good copy and logs one line.

Only entities with an ``md:SPSSODescriptor`` are kept; an entityID also found in
the local metadata folder is skipped (the local file wins).

Schedule (decided here): the gunicorn master builds the IdP before forking
(preload), loading each aggregate from the network or, when that fails, from
its disk cache. Loading checks the signature once and indexes the SP entities
by entityID, each kept as its serialised ``md:EntityDescriptor`` (a few kB):
pysaml2 parses an entity only when its SP is first used
(:class:`~gateway.saml.sp.providers.Providers`), which was more than half of the
start-up with 2,000 SPs. The index is shared copy-on-write by the workers.
Afterwards each worker runs :meth:`Aggregates.tick` before requests: at most every
``saml.aggregate_check_seconds`` it stats the cache file (cheap); when the file
is older than ``refresh_seconds`` one worker (an ``flock`` on the cache folder)
fetches in a background thread and rewrites the cache; every worker whose last
seen mtime differs reloads the cache file in a background thread and swaps its
index (an SP whose entity changed is parsed again on its next use). Reloading
happens once per change of the aggregate in each worker, never on the request path.
Under gunicorn's gevent workers that background thread is a greenlet on the
worker's one event-loop thread: the fetch there is a wait like any other, but
the CPU work (checking the signature, writing the cache, reading and indexing the
entities: ~0.6 s for 2,000 SPs) runs on a native thread (:class:`~gateway.native.NativePool`,
:meth:`Aggregates.check`), and only the swap of the index is done on the loop, so the
worker's other requests go on meanwhile. A systemd timer may also run the same fetch
(:func:`refresh_cache`) instead: workers pick the file up the same way.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime
import fcntl
import hashlib
import logging
import os
import re
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import xmlsec
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring
from lxml import etree
from saml2.mdstore import InMemoryMetaData, MetadataStore

from ...config import ROOT
from ...native import NativePool
from ..wire.xml import DS, MD, MD_NS

log = logging.getLogger("gateway.saml.aggregates")

#: The most an aggregate may weigh (the Renater SP aggregate is ~30 MB with every entity).
MAX_BYTES = 200 * 1024 * 1024
TIMEOUT = 30
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
T = TypeVar("T")


class AggregateError(Exception):
    """The aggregate cannot be used (network, XML, signature, validUntil): one line of text."""


#: How work is run: ``run(work, *args)`` returns ``work(*args)`` (:func:`_here`, or a native thread's).
Runner = Callable[..., Any]


def _here(work: Callable[..., T], *args: Any) -> T:
    """``work(*args)`` on the caller's thread (start-up in the master, the systemd timer's command)."""
    return work(*args)


@dataclasses.dataclass(frozen=True)
class Aggregate:
    """One ``saml.aggregates`` table."""

    url: str
    cert: str
    cache_dir: str
    refresh_seconds: int = 3600

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> Aggregate:
        return cls(table["url"], table["cert"], table["cache_dir"], int(table.get("refresh_seconds", 3600)))

    @property
    def cache_file(self) -> Path:
        folder = Path(self.cache_dir)
        folder = folder if folder.is_absolute() else ROOT / folder
        return folder / (hashlib.sha256(self.url.encode()).hexdigest()[:16] + ".xml")


def fetch(url: str, timeout: float = TIMEOUT) -> bytes:
    """The document at ``url`` (http or https only). Raises AggregateError."""
    if not url.startswith(("https://", "http://")):
        raise AggregateError(f"{url}: only http(s) URLs are fetched")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - scheme checked above
            data: bytes = response.read(MAX_BYTES + 1)
    except (OSError, ValueError) as exc:
        raise AggregateError(f"{url}: cannot fetch ({type(exc).__name__}: {exc})") from None
    if len(data) > MAX_BYTES:
        raise AggregateError(f"{url}: more than {MAX_BYTES} bytes")
    return data


def verified(document: bytes, cert_pem: bytes, now: datetime.datetime | None = None) -> etree._Element:
    """The checked root ``md:EntitiesDescriptor``. Raises AggregateError."""
    try:
        defused_fromstring(document, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise AggregateError(f"unsafe XML ({type(exc).__name__})") from None
    except SyntaxError as exc:
        raise AggregateError(f"not XML: {exc}") from None
    try:
        root = etree.fromstring(document, etree.XMLParser(resolve_entities=False, no_network=True,
                                                          load_dtd=False, huge_tree=True))
    except etree.XMLSyntaxError as exc:
        raise AggregateError(f"not XML: {exc}") from None
    if root.tag != MD + "EntitiesDescriptor":
        raise AggregateError(f"the root is {root.tag}, not md:EntitiesDescriptor")
    root_id = root.get("ID")
    if not root_id:
        raise AggregateError("the root md:EntitiesDescriptor has no ID to sign")
    signatures = root.findall(DS + "Signature")
    if len(signatures) != 1 or len(root.findall(".//" + DS + "Signature")) != 1:
        raise AggregateError("exactly one ds:Signature, a child of the root, is required")
    signature = signatures[0]
    references = signature.findall(f"{DS}SignedInfo/{DS}Reference")
    if len(references) != 1 or references[0].get("URI") != "#" + root_id:
        raise AggregateError("the signature must have exactly one Reference, to the root ID")
    transforms = [t.get("Algorithm") for t in references[0].iterfind(f"{DS}Transforms/{DS}Transform")]
    if ENVELOPED not in transforms:
        raise AggregateError("the signature must be enveloped")
    if len(root.xpath("//*[@ID=$i]", i=root_id)) != 1:
        raise AggregateError("the root ID is not unique (signature wrapping)")
    try:
        key = xmlsec.Key.from_memory(cert_pem, xmlsec.constants.KeyDataFormatCertPem)
        xmlsec.tree.add_ids(root, ["ID"])
        context = xmlsec.SignatureContext()
        context.key = key
        context.verify(signature)
    except xmlsec.Error as exc:
        raise AggregateError(f"bad signature ({exc})") from None
    valid_until = root.get("validUntil")
    if valid_until:
        now = now or datetime.datetime.now(datetime.timezone.utc)
        try:
            until = datetime.datetime.fromisoformat(valid_until.replace("Z", "+00:00"))
        except ValueError:
            raise AggregateError(f"validUntil {valid_until!r} is not a date") from None
        if until.tzinfo is None:
            until = until.replace(tzinfo=datetime.timezone.utc)
        if until <= now:
            raise AggregateError(f"expired (validUntil {valid_until})")
    return root


def sp_entities(root: etree._Element, skip: Iterable[str] = ()) -> dict[str, bytes]:
    """The SP entities of ``root`` (nested EntitiesDescriptor flattened), by entityID, each
    serialised on its own; ``skip``: entityIDs left out. The first of a repeated entityID wins."""
    skipped = set(skip)
    found: dict[str, bytes] = {}
    for entity in root.iter(MD + "EntityDescriptor"):
        entity_id = entity.get("entityID")
        if (not entity_id or entity_id in skipped or entity_id in found
                or entity.find(MD + "SPSSODescriptor") is None):
            continue
        found[entity_id] = etree.tostring(entity)
    return found


def entity_metadata(mds: MetadataStore, document: bytes) -> MetadataStore:
    """pysaml2's parse of one entity of :func:`sp_entities`, in a store of its own (sharing the
    attribute converters and security context of ``mds``). Only its SP role is kept (an SP that is
    also an IdP). pysaml2 skips an entity whose validUntil has passed. Raises whatever pysaml2
    raises on bad metadata."""
    entity = etree.fromstring(document, etree.XMLParser(resolve_entities=False, no_network=True,
                                                        load_dtd=False))
    for descriptor in list(entity):
        if descriptor.tag in (MD + "IDPSSODescriptor", MD + "AttributeAuthorityDescriptor"):
            entity.remove(descriptor)
    wrapper = etree.Element(MD + "EntitiesDescriptor", nsmap={"md": MD_NS})
    wrapper.append(entity)
    loaded = InMemoryMetaData(mds.attrc, str(etree.tostring(wrapper, encoding="unicode")))
    loaded.load()
    store = copy.copy(mds)
    store.metadata = {"aggregate-entity": loaded}
    return store


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".xml")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def refresh_cache(aggregate: Aggregate, timeout: float = TIMEOUT) -> bool:
    """Fetch, check, and on success replace the cache file. False (one log line) on any failure."""
    return refreshed(aggregate, timeout) is not None


def refreshed(aggregate: Aggregate, timeout: float = TIMEOUT,
              run: Runner = _here) -> tuple[bytes, etree._Element] | None:
    """:func:`refresh_cache`, giving the document written and its checked root (None on failure),
    so that loading it does not check the signature a second time. ``run`` runs the check and the
    write (:class:`~gateway.native.NativePool` in a worker); the fetch, a wait on the network, and
    the log lines stay with the caller."""
    try:
        data = fetch(aggregate.url, timeout)
        log.info("saml aggregate %s: fetched %d bytes, checking them", aggregate.url, len(data))
        root = run(verified, data, Path(aggregate.cert).read_bytes())
    except (AggregateError, OSError) as exc:
        log.warning("saml aggregate %s: refresh refused, last good copy kept: %s", aggregate.url, exc)
        return None
    run(write_atomically, aggregate.cache_file, data)
    log.info("saml aggregate %s: refreshed (%d bytes)", aggregate.url, len(data))
    return data, root


def read_cache(aggregate: Aggregate) -> etree._Element:
    """The cached copy, checked again (signature, validUntil). Raises AggregateError."""
    try:
        data = aggregate.cache_file.read_bytes()
        cert = Path(aggregate.cert).read_bytes()
    except OSError as exc:
        raise AggregateError(f"no usable cache ({exc})") from None
    return verified(data, cert)


#: The root start tag of an aggregate and its validUntil, read from the head of the cache file.
_ROOT_TAG = re.compile(rb"<(?:[\w-]+:)?EntitiesDescriptor\b[^>]*>")
_VALID_UNTIL = re.compile(rb"""\svalidUntil\s*=\s*["']([^"']+)["']""")


def cache_state(aggregate: Aggregate, now: float | None = None) -> tuple[float, float | None] | None:
    """The cached copy's age (seconds) and ``validUntil`` (a timestamp, or None without one).

    Cheap enough for a metrics scrape: a stat and the first 64 KiB. None without a cache.
    The cache holds only verified copies (:func:`refresh_cache`), so its root is trusted.
    """
    try:
        with aggregate.cache_file.open("rb") as cache:
            mtime = os.fstat(cache.fileno()).st_mtime
            head = cache.read(65536)
    except OSError:
        return None
    age = max(0.0, (time.time() if now is None else now) - mtime)
    root = _ROOT_TAG.search(head)
    found = _VALID_UNTIL.search(root.group(0)) if root else None
    if not found:
        return age, None
    try:
        until = datetime.datetime.fromisoformat(found.group(1).decode().replace("Z", "+00:00"))
    except ValueError:
        return age, None
    return age, (until if until.tzinfo else until.replace(tzinfo=datetime.timezone.utc)).timestamp()


class Aggregates:
    """The SP entities of the aggregates, indexed by entityID, and their refresh.

    ``mds``: the store of the local metadata files, whose attribute converters parse each entity
    (:meth:`metadata`)."""

    def __init__(self, aggregates: list[Aggregate], mds: MetadataStore, local: Iterable[str],
                 check_seconds: int = 30) -> None:
        self.aggregates = aggregates
        self.mds = mds
        self.local = frozenset(local)
        self.check_seconds = check_seconds
        self._mtimes: dict[str, float] = {}
        self._retry_after: dict[str, float] = {}
        self._digests: dict[str, bytes] = {}
        #: aggregate URL -> its SP entities (:func:`sp_entities`); each value is replaced whole.
        self._indexes: dict[str, dict[str, bytes]] = {}
        self._next_check = 0.0
        self._busy = threading.Lock()
        #: where a worker checks, writes and indexes a changed aggregate: off its event loop
        self._native = NativePool(1, "saml-aggregates")

    def document(self, entity_id: str) -> bytes | None:
        """The serialised md:EntityDescriptor of an SP of the aggregates (the first aggregate
        listed wins), or None. A reload gives a changed entity a new bytes object."""
        for aggregate in self.aggregates:
            found = self._indexes.get(aggregate.url, {}).get(entity_id)
            if found is not None:
                return found
        return None

    def entity_ids(self) -> set[str]:
        """Every SP entityID of the aggregates."""
        return {entity_id for index in list(self._indexes.values()) for entity_id in index}

    def metadata(self, document: bytes) -> MetadataStore:
        """pysaml2's parse of one :meth:`document`. Raises whatever pysaml2 raises."""
        return entity_metadata(self.mds, document)

    def load_at_start(self, fetch_first: bool = True) -> None:
        """Refresh each aggregate if its cache is stale, then load the cache; nothing usable: skipped."""
        for aggregate in self.aggregates:
            fresh = refreshed(aggregate) if fetch_first and self._stale(aggregate) else None
            self._load(aggregate, fresh)

    def _stale(self, aggregate: Aggregate) -> bool:
        try:
            return time.time() - aggregate.cache_file.stat().st_mtime >= aggregate.refresh_seconds
        except OSError:
            return True

    def _load(self, aggregate: Aggregate, fresh: tuple[bytes, etree._Element] | None = None,
              run: Runner = _here) -> bool:
        """Load the cache file if its content changed; True when the index got a new copy.

        ``fresh``: the document just fetched and checked, with its root: used as it is when the
        cache file still holds exactly that document. ``run`` runs the reading, the check and the
        indexing (:meth:`_indexed`); the new index is swapped in here, by the caller's thread."""
        try:
            mtime, digest, index = run(self._indexed, aggregate, fresh)
        except (AggregateError, OSError) as exc:
            log.warning("saml aggregate %s: not loaded, previous copy kept (%s)", aggregate.url, exc)
            return False
        self._mtimes[aggregate.url] = mtime
        if index is None:  # touched, not changed
            return False
        self._indexes[aggregate.url] = index  # one atomic swap
        self._digests[aggregate.url] = digest
        log.info("saml aggregate %s: loaded, %d SP entities", aggregate.url, len(index))
        return True

    def _indexed(self, aggregate: Aggregate, fresh: tuple[bytes, etree._Element] | None
                 ) -> tuple[float, bytes, dict[str, bytes] | None]:
        """The cache file's mtime, digest and SP entities (None when its content is the one loaded).

        Reads this object's state, changes none of it (it may run on another thread than the one
        that swaps). Raises AggregateError, OSError."""
        mtime = aggregate.cache_file.stat().st_mtime
        data = aggregate.cache_file.read_bytes()
        digest = hashlib.sha256(data).digest()
        if digest == self._digests.get(aggregate.url):
            return mtime, digest, None
        root = fresh[1] if fresh is not None and fresh[0] == data else read_cache(aggregate)
        previous = self._indexes.get(aggregate.url, {})
        index = sp_entities(root, self.local)
        for entity_id, document in index.items():  # unchanged entities keep their object (and parse)
            if previous.get(entity_id) == document:
                index[entity_id] = previous[entity_id]
        return mtime, digest, index

    def tick(self) -> None:
        """Before a request: at most every ``check_seconds``, a stat per aggregate; work goes to a thread."""
        now = time.monotonic()
        if now < self._next_check or not self.aggregates:
            return
        self._next_check = now + self.check_seconds
        if self._busy.locked():
            return
        threading.Thread(target=self.check, name="saml-aggregates", daemon=True).start()

    def check(self) -> bool:
        """Refresh stale caches (one process at a time), reload changed ones. True if anything reloaded.

        The fetch waits on the network (under gevent, a wait that lets the worker's other requests
        run); checking the signature, writing the cache and indexing the entities, ~0.6 s of CPU
        for 2,000 SPs, run on a native thread (:class:`~gateway.native.NativePool`), so that they
        never hold a gevent worker's event loop; the new index is swapped in on the caller's thread."""
        if not self._busy.acquire(blocking=False):
            return False
        try:
            changed = False
            for aggregate in self.aggregates:
                fresh = None
                if self._stale(aggregate) and time.monotonic() >= self._retry_after.get(aggregate.url, 0):
                    fresh = self._refresh_locked(aggregate)
                try:
                    mtime = aggregate.cache_file.stat().st_mtime
                except OSError:
                    continue
                if mtime != self._mtimes.get(aggregate.url):
                    changed = self._load(aggregate, fresh, self._native.run) or changed
            return changed
        finally:
            self._busy.release()

    def _refresh_locked(self, aggregate: Aggregate) -> tuple[bytes, etree._Element] | None:
        """One process refreshes; the others find the cache fresh when they come to it. The document
        written and its checked root (:func:`refreshed`), or None."""
        folder = aggregate.cache_file.parent
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".refresh.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return None
            try:
                if not self._stale(aggregate):
                    return None
                fresh = refreshed(aggregate, run=self._native.run)
                if fresh is None:
                    # a failed refresh: this process tries again after 10 checks, not at every one
                    self._retry_after[aggregate.url] = time.monotonic() + 10 * self.check_seconds
                return fresh
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
