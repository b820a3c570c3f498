"""Which regions a spoke goes to: a list given by the user, or every enabled region."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

ALL_REGIONS: Final = "all"
REGION_PATTERN: Final = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")
# Regions that need no opt-in, and opt-in regions the account has enabled.
_ENABLED_STATUSES: Final = frozenset({"opt-in-not-required", "opted-in"})


class RegionError(ValueError):
    """A region list that cannot be used."""


def parse_region_list(text: str) -> list[str]:
    """`us-east-1,eu-west-1` as a list, in the order given, without repeats."""
    regions: list[str] = []
    for item in text.split(","):
        region = item.strip()
        if not region:
            continue
        if not REGION_PATTERN.fullmatch(region):
            raise RegionError(f"{region!r} is not a region name (like eu-west-1)")
        if region not in regions:
            regions.append(region)
    if not regions:
        raise RegionError("no region given")
    return regions


def enabled_regions(ec2: EC2Client) -> list[str]:
    """The regions enabled for the account of `ec2`'s credentials, sorted."""
    response = ec2.describe_regions(AllRegions=False)
    return sorted(
        region["RegionName"]
        for region in response.get("Regions", [])
        if "RegionName" in region and region.get("OptInStatus") in _ENABLED_STATUSES
    )


def is_all(text: str) -> bool:
    return text.strip().lower() == ALL_REGIONS


def ordered(regions: Iterable[str]) -> list[str]:
    """Regions in deployment order: us-east-1 first (root sign-in, IAM and global STS events
    land there), then the rest alphabetically."""
    unique = sorted(set(regions))
    return sorted(unique, key=lambda region: region != "us-east-1")
