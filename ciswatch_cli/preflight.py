"""Checks made before anything is read or recorded: the arguments that need AWS or an ARN's shape."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.inventory.regions import enabled_regions
from chalicelib.model import Arn
from chalicelib.settings import Settings

from .errors import UsageError


def check_topic_arn(value: str | None) -> str | None:
    """An SNS topic ARN, checked before anything is read or recorded."""
    if value is None:
        return None
    arn = Arn.try_parse(value)
    if arn is None or arn.service != "sns" or not arn.region or not arn.account or not arn.resource:
        raise UsageError(f"--topic-arn: not an SNS topic ARN: {value!r}")
    return value


def check_regions_enabled(settings: Settings) -> None:
    """Every --regions name must be a region the account has enabled (as POST /audits checks)."""
    if not settings.regions:
        return
    try:
        enabled = enabled_regions(settings)
    except (ClientError, BotoCoreError):
        return  # cannot tell: the audit itself reports what it could not read
    unknown = [r for r in settings.regions if r not in enabled]
    if unknown:
        raise UsageError(f"--regions: not a region enabled in this account: {', '.join(unknown)}")
