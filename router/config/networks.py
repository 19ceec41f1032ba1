"""Where a connection comes from: CIDR ranges from the config, and the client's address.

``X-Forwarded-For`` is believed only from proxies the config names: any client
can send the header, so trusting it from everyone would let anyone claim any address.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Iterable, Mapping, Union

from pydantic import BeforeValidator

Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


def parse_network(value) -> Network:
    """``"10.0.0.0/8"``, ``"2001:db8::/32"`` or a single address (``"203.0.113.7"``, a /32)."""
    if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return value
    if not isinstance(value, str):
        raise ValueError(f"an address range is text like 10.0.0.0/8, got {type(value).__name__} {value!r}")
    try:
        # strict=False: 10.0.0.1/8 means the /8 it lies in, as in most firewall configs.
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an address range; write CIDR notation like "
                         f"10.0.0.0/8, 2001:db8::/32, or a single address") from None


NetworkList = list[Annotated[Network, BeforeValidator(parse_network)]]


def parse_address(text: str | None) -> Address | None:
    """An address as a server or proxy reports it (IPv6 in brackets, a port, IPv4-mapped IPv6)."""
    if not text:
        return None
    text = text.strip()
    if text.startswith("["):  # [2001:db8::1]:443
        text = text[1:text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:  # 203.0.113.7:5000
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def in_networks(address: Address, networks: Iterable[Network]) -> bool:
    # An IPv4 address is never "in" an IPv6 network (ipaddress answers False), which is right here.
    return any(address in network for network in networks)


def client_address(environ: Mapping, trusted_proxies: Iterable[Network] = ()) -> Address | None:
    """The client's address: ``REMOTE_ADDR``, or behind trusted proxies the nearest untrusted
    hop of ``X-Forwarded-For``, read from the right (each proxy appends the peer it saw).

    None when no address can be determined (an unparsable hop behind a trusted proxy).
    """
    address = parse_address(environ.get("REMOTE_ADDR"))
    proxies = list(trusted_proxies)
    if address is None or not proxies or not in_networks(address, proxies):
        return address
    hops = [hop for hop in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            return None
        if not in_networks(address, proxies):
            return address
    return address  # every hop is a proxy: the request started at the last one
