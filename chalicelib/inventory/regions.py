"""The regions an account can use (one home for the rule, for the API's and the CLI's checks)."""

from __future__ import annotations

from ..clients import aws_client
from ..model.rules import is_enabled_region
from ..settings import Settings


def enabled_regions(settings: Settings) -> set[str]:
    """Raises botocore's errors: the callers decide what an unknown answer means for them."""
    resp = aws_client("ec2", settings).describe_regions()
    return {r["RegionName"] for r in resp["Regions"] if is_enabled_region(r.get("OptInStatus"))}
