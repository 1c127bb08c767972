"""The regions an account can use (one home for the rule, for the API's and the CLI's checks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..clients import ClientFactory
from ..model.rules import is_enabled_region
from ..settings import Settings

if TYPE_CHECKING:
    from .aws import AwsReader


def enabled_regions(settings: Settings, reader: AwsReader | None = None) -> set[str]:
    """Raises botocore's errors: the callers decide what an unknown answer means for them.
    ``reader``: read with its credentials (a member account's) instead of the settings' own."""
    clients = reader.clients if reader is not None else ClientFactory(settings)
    resp = clients.client("ec2").describe_regions()
    return {r["RegionName"] for r in resp["Regions"] if is_enabled_region(r.get("OptInStatus"))}
