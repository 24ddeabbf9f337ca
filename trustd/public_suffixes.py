"""The Public Suffix List handed to the evaluation core.

The core decides whether a wildcard may stand directly under a domain with a test it is given
(`Evaluator(public_suffixes=...)`) and imports no list of its own; the service, the evaluation
workers and the conformance harnesses hand it this one: the ICANN and private sections shipped
by `publicsuffixlist`, read once per process on the first question.
"""

from __future__ import annotations

import functools

from publicsuffixlist import PublicSuffixList

from trustd.core.names import PublicSuffixTest


@functools.cache
def _loaded() -> PublicSuffixList:
    return PublicSuffixList()


def _is_public(domain: str) -> bool:
    return bool(_loaded().is_public(domain))


def public_suffix_list() -> PublicSuffixTest:
    """Whether a domain is a public suffix (`co.uk`, `github.io`); the list loads on first use."""
    return _is_public
