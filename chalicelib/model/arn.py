"""One ARN parser for the whole codebase (partition-aware: aws, aws-cn, aws-us-gov, ...)."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ArnError


@dataclass(frozen=True, slots=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, text: str) -> Arn:
        parts = text.split(":", 5) if isinstance(text, str) else []
        if len(parts) < 6 or parts[0] != "arn" or not parts[1] or not parts[2]:
            raise ArnError(f"not an ARN: {text!r}")
        return cls(parts[1], parts[2], parts[3], parts[4], parts[5])

    @classmethod
    def try_parse(cls, text: str | None) -> Arn | None:
        """The ARN, or None for anything else (a name, an alias, a truncated ARN)."""
        try:
            return cls.parse(text or "")
        except ArnError:
            return None

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"

    @property
    def resource_name(self) -> str:
        """The last part of the resource: ``trail/main`` -> ``main``; ``my-topic`` -> ``my-topic``."""
        return self.resource.rsplit("/", 1)[-1]

    @property
    def log_group_name(self) -> str:
        """``log-group:NAME:*`` -> ``NAME`` (CloudTrail gives the ARN with ``:*``, CloudWatch Logs without)."""
        name = self.resource[len("log-group:") :] if self.resource.startswith("log-group:") else self.resource
        return name[:-2] if name.endswith(":*") else name


def arn(partition: str, service: str, region: str, account: str, resource: str) -> str:
    return str(Arn(partition, service, region, account, resource))


def account_of(text: str | None) -> str | None:
    parsed = Arn.try_parse(text)
    return parsed.account if parsed else None


def is_sns_topic(text: str | None) -> bool:
    parsed = Arn.try_parse(text)
    return parsed is not None and parsed.service == "sns" and bool(parsed.region) and bool(parsed.account)
