"""The client's address behind a known number of reverse proxies (no Django import)."""

from __future__ import annotations

import ipaddress


def client_address(remote_addr: str, forwarded_for: str, proxy_count: int) -> str:
    """The address `proxy_count` hops from the right of X-Forwarded-For, else `remote_addr`.

    Each proxy appends the address it received the request from, so with N proxies of ours the
    N-th entry from the right was written by the outermost one: the client as it saw it.
    Entries further left came with the request and may be forged; an entry that is not an IP
    address (or a header shorter than expected: a request that skipped a proxy) is not trusted.
    """
    if proxy_count <= 0 or not forwarded_for:
        return remote_addr
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    if len(hops) < proxy_count:
        return remote_addr
    candidate = hops[-proxy_count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote_addr
