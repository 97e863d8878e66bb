"""Every refusal the domain raises has exactly one kind, and the kind alone decides its HTTP
status and body."""

from __future__ import annotations

import importlib
import pkgutil

import app
from app.errors import (
    Conflict,
    Forbidden,
    Invalid,
    LockedOut,
    NotFound,
    Throttled,
    Unauthorized,
    Unavailable,
    UserError,
)
from app.swap.errors import SwapInProgress
from app.web.errors import STATUS_OF, status_of

KINDS = {
    Invalid: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    LockedOut: 423,
}


def _all_subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _all_subclasses(sub)
    return found


def test_each_kind_has_its_status() -> None:
    assert {**KINDS, Unavailable: 502, Throttled: 429} == STATUS_OF
    for kind, status in STATUS_OF.items():
        refusal = Throttled("x", 5) if kind is Throttled else kind("x")
        assert status_of(refusal) == status


def test_every_domain_refusal_is_of_exactly_one_kind() -> None:
    for info in pkgutil.walk_packages(app.__path__, "app."):
        importlib.import_module(info.name)
    refusals = _all_subclasses(UserError) - set(STATUS_OF)
    assert len(refusals) >= 15  # the lock's, the catalog's, the swap's, the logs', ...
    for refusal in refusals:
        assert len([k for k in STATUS_OF if issubclass(refusal, k)]) == 1, refusal


def test_extra_fields_reach_the_body_beside_the_sentence() -> None:
    err = SwapInProgress("ab12")
    assert status_of(err) == 409
    assert err.extra() == {"job_id": "ab12"}
    assert "ab12" in err.message
