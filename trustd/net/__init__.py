"""The network, outside the core: AIA issuers, OCSP and CRLs for evaluations that may use it.

The core never fetches.  After an evaluation, `completion.next_request` looks at what the
verdict could not decide (a missing issuer, revocation asked for), `fetcher.Fetcher` asks the
network or its cache, and the core judges again with the answers in the request.
"""
