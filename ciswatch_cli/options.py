"""Options and argument parsing shared by the commands: declared once here."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any
from urllib.parse import urlsplit

from chalicelib import catalog
from chalicelib.model.rules import is_region_name
from chalicelib.settings import Settings

from .errors import UsageError


def add_aws_options(p: argparse.ArgumentParser, regions: bool = False, table_region: bool = False) -> None:
    """How to reach AWS: endpoint, profile, and the regions to audit or the table's region."""
    p.add_argument("--endpoint-url", metavar="URL", help="AWS endpoint (moto, LocalStack); default AWS_ENDPOINT_URL")
    p.add_argument("--profile", metavar="NAME", help="AWS profile from the shared config")
    if regions:
        p.add_argument("--regions", metavar="r1,r2|all", help="regions to audit (default: every enabled region)")
    if table_region:
        p.add_argument("--region", metavar="REGION", help="the table's region (default: the session's)")


def add_benchmark_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--benchmark", metavar="VERSION", help="CIS version (default 5.0.0)")


def parse_regions(text: str | None) -> tuple[str, ...]:
    if not text or text.strip() == "all":
        return ()
    regions = tuple(dict.fromkeys(r.strip() for r in text.split(",") if r.strip()))
    bad = [r for r in regions if not is_region_name(r)]
    if bad or not regions:
        raise UsageError(f"--regions: not a region name: {', '.join(bad) or text!r}")
    return regions


def resolve_benchmark_arg(value: str | None) -> str:
    try:
        return catalog.resolve_benchmark(value)
    except catalog.CatalogError as exc:
        raise UsageError(str(exc)) from None


def endpoint_of(args: argparse.Namespace) -> str | None:
    if args.endpoint_url:
        return _endpoint(args.endpoint_url, "--endpoint-url")
    from_env = os.environ.get("AWS_ENDPOINT_URL")
    return _endpoint(from_env, "AWS_ENDPOINT_URL") if from_env else None


def _endpoint(url: str, where: str) -> str:
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in text):
        raise UsageError(f"{where}: not an http(s) URL: {url!r}")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise UsageError(f"{where}: not an http(s) URL (bad port): {url!r}") from None
    return text


def settings_from_args(args: argparse.Namespace, **changes: Any) -> Settings:
    try:
        base = Settings.from_env()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return base.with_(endpoint_url=endpoint_of(args), profile=args.profile, **changes)


def usage_from(exc: Exception) -> UsageError:
    """botocore's configuration errors, said the way a newcomer can act on them."""
    name = type(exc).__name__
    if name == "NoRegionError":
        return UsageError("no AWS region: pass --region (or --regions), or set AWS_DEFAULT_REGION")
    if name == "NoCredentialsError":
        return UsageError("no AWS credentials: set AWS_PROFILE (or pass --profile), or configure credentials")
    if name == "ProfileNotFound":
        return UsageError(f"{exc} (see --profile and ~/.aws/config)")
    return UsageError(str(exc))


def write_output(text: str, path: str | None) -> None:
    if not path:
        sys.stdout.write(text)
        return
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
