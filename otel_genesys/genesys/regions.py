"""Genesys Cloud regions and the hosts derived from them (see GENESYS.md)."""

from __future__ import annotations

from dataclasses import dataclass

REGIONS: dict[str, str] = {
    "us_east_1": "mypurecloud.com",
    "eu_west_1": "mypurecloud.ie",
    "ap_southeast_2": "mypurecloud.com.au",
    "ap_northeast_1": "mypurecloud.jp",
    "eu_central_1": "mypurecloud.de",
    "us_west_2": "usw2.pure.cloud",
    "ca_central_1": "cac1.pure.cloud",
    "ap_northeast_2": "apne2.pure.cloud",
    "eu_west_2": "euw2.pure.cloud",
    "ap_south_1": "aps1.pure.cloud",
    "us_east_2": "use2.us-gov-pure.cloud",
    "sa_east_1": "sae1.pure.cloud",
    "me_central_1": "mec1.pure.cloud",
    "ap_northeast_3": "apne3.pure.cloud",
    "eu_central_2": "euc2.pure.cloud",
    "mx_central_1": "mxc1.pure.cloud",
    "ap_southeast_1": "apse1.pure.cloud",
    "eusc_de_east_1": "edee1.eusc-pure.cloud",
}
"""Region name → domain."""

DOMAINS: dict[str, str] = {domain: name for name, domain in REGIONS.items()}
"""Domain → region name."""


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where one org's login, REST API and streaming hosts are."""

    region: str | None
    login_url: str
    api_url: str

    @property
    def token_url(self) -> str:
        return self.login_url.rstrip("/") + "/oauth/token"

    @property
    def channels_url(self) -> str:
        return self.api_url.rstrip("/") + "/api/v2/notifications/channels"


def resolve_region(value: str) -> tuple[str, str] | None:
    """Accept a region name (``eu_west_1``, ``eu-west-1``) or a domain.

    Returns ``(name, domain)`` or ``None`` when it names no known region.

    >>> resolve_region("mypurecloud.ie")
    ('eu_west_1', 'mypurecloud.ie')
    >>> resolve_region("EU-WEST-1")
    ('eu_west_1', 'mypurecloud.ie')
    """
    v = value.strip().lower()
    key = v.replace("-", "_")
    if key in REGIONS:
        return key, REGIONS[key]
    if v in DOMAINS:
        return DOMAINS[v], v
    return None


def endpoints_for(region: str | None = None, base_url: str | None = None) -> Endpoints:
    """Endpoints for a region, or for a base URL serving login and API alike."""
    if base_url:
        base = base_url.rstrip("/")
        return Endpoints(region=region, login_url=base, api_url=base)
    if region is None:
        raise ValueError("a region or a base_url is needed")
    resolved = resolve_region(region)
    if resolved is None:
        raise ValueError(f"unknown Genesys region {region!r}")
    name, domain = resolved
    return Endpoints(region=name, login_url=f"https://login.{domain}", api_url=f"https://api.{domain}")


def streaming_hosts() -> frozenset[str]:
    """Every region's streaming host (used by the instrumentation predicate)."""
    return frozenset(f"streaming.{d}" for d in REGIONS.values())
