"""Job functions by stable names: what a queued job stores instead of its function's module path.

rq stores a job's function as a dotted path and imports it when the job runs,
so moving a function (``gateway.saml.backchannel.deliver`` became
``gateway.saml.slo.backchannel.deliver`` when saml/ was split by concern) broke
every job queued before the upgrade. Here each job function is registered under
a name that never changes (:func:`job`), :func:`gateway.jobs.enqueue` stores that
name, and the worker runs jobs as :class:`NamedJob`, which finds a job's function
by its name, or by the module path an earlier version stored (:data:`FORMER_PATHS`).

A stored name that is neither is refused: the worker never imports whatever a
job in Redis names (:class:`UnknownJob`, the job fails and stays in rq's failed
registry).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from rq.job import Job

F = TypeVar("F", bound=Callable[..., Any])

#: The module paths job functions had when rq stored them (releases before stable names), and the
#: names they have now. Remove a line only once no worker can hold a job queued by such a release.
FORMER_PATHS = {
    "gateway.mail.jobs.deliver": "mail.deliver",  # mail through its own queue (until 2026-12-07)
    "gateway.mail.delivery.deliver": "mail.deliver",
    "gateway.saml.backchannel.deliver": "saml.backchannel.deliver",  # saml/ before its sub-packages
    "gateway.saml.slo.backchannel.deliver": "saml.backchannel.deliver",
    "gateway.oidc.backchannel.deliver": "oidc.backchannel.deliver",
}

_FUNCTIONS: dict[str, Callable[..., Any]] = {}
_NAMES: dict[Callable[..., Any], str] = {}


class UnknownJob(LookupError):
    """A job names a function that is not registered (nor a former path of one)."""


def job(name: str) -> Callable[[F], F]:
    """Register the decorated function as the job ``name`` (e.g. ``"mail.deliver"``).

    Raises ValueError when another function holds the name (a programming error).
    """
    def register(func: F) -> F:
        held = _FUNCTIONS.get(name)
        if held is not None and held is not func:
            raise ValueError(f"job name {name!r} is already {held.__module__}.{held.__qualname__}")
        _FUNCTIONS[name] = func
        _NAMES[func] = name
        return func
    return register


def name_of(func: Callable[..., Any]) -> str:
    """The name ``func`` was registered under. Raises ValueError for a function that is not a job."""
    try:
        return _NAMES[func]
    except KeyError:
        raise ValueError(f"{func.__module__}.{func.__qualname__} is not a registered job") from None


def lookup(stored: str) -> Callable[..., Any]:
    """The function of a stored job: by its name, or by a former module path. Raises UnknownJob."""
    function = _FUNCTIONS.get(FORMER_PATHS.get(stored, stored))
    if function is None:
        raise UnknownJob(f"no job function named {stored!r}")
    return function


class NamedJob(Job):  # type: ignore[misc]
    """An rq job whose function is looked up by name (:func:`lookup`), never imported from its text."""

    @property
    def func(self) -> Callable[..., Any]:
        return lookup(self.func_name)
