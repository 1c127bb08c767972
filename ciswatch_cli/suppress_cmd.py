"""``ciswatch suppress add|list|remove``: accepted deviations kept in the findings table."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import catalog
from chalicelib.clients import aws_client
from chalicelib.model.suppression import Suppression, SuppressionError, from_document, new_suppression, parse_file_text
from chalicelib.state.errors import StateError
from chalicelib.state.suppressions import SuppressionStore

from .errors import EXIT_OK, UsageError
from .options import settings_from_args, usage_from


def _store(args: argparse.Namespace) -> tuple[SuppressionStore, Any]:
    if not args.table:
        raise UsageError("suppress needs --table NAME (or CISWATCH_TABLE)")
    settings = settings_from_args(args)
    sts = aws_client("sts", settings, args.region)
    identity = sts.get_caller_identity()
    account = args.account or identity["Account"]
    return SuppressionStore(aws_client("dynamodb", settings, args.region), args.table, account), identity


def resolve_control(text: str, benchmark: str | None = None) -> str:
    try:
        return catalog.find_control(text, benchmark).id
    except catalog.CatalogError as exc:
        raise SuppressionError(f"control: {exc}") from None


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except SuppressionError as exc:
        raise UsageError(str(exc)) from None
    except StateError as exc:
        raise UsageError(str(exc)) from None
    except ClientError as exc:
        raise UsageError(f"table {args.table}: {exc.response['Error'].get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise usage_from(exc) from None


def _run(args: argparse.Namespace) -> int:
    store, identity = _store(args)
    today = datetime.now(UTC).date()
    if args.suppress_command == "add":
        made = new_suppression(
            resolve_control(args.control, args.benchmark),
            args.reason,
            args.owner,
            args.expires,
            today,
            region=args.in_region,
            resource=args.resource,
            created_by=str(identity.get("Arn")),
            created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        store.add(made)
        print(f"added suppression {made.id}: {_line(made, today)}")
        return EXIT_OK
    if args.suppress_command == "remove":
        store.remove(args.id, str(identity.get("Arn")))
        print(f"removed suppression {args.id}")
        return EXIT_OK
    items = store.list(include_removed=args.all)
    if args.format == "json":
        print(json.dumps({"account": store.account, "suppressions": [_json(s, today) for s in items]}, indent=2))
        return EXIT_OK
    print(f"ciswatch suppressions - account {store.account} - table {store.table} - {len(items)}")
    for s in items:
        print(f"  {s.id}  {_line(s, today)}")
    return EXIT_OK


def _json(s: Suppression, today: Any) -> dict[str, Any]:
    return {**s.to_json(), "active": s.active(today), "stale": s.stale(today)}


def _line(s: Suppression, today: Any) -> str:
    where = " ".join(x for x in (s.region, s.resource) if x) or "everywhere"
    state = (
        "EXPIRED" if not s.active(today) else ("STALE (matched nothing for 30 days)" if s.stale(today) else "active")
    )
    return f"{s.control} {where}: {s.reason} (owner {s.owner}, until {s.expires}, {state})"


def load_file(path: str, benchmark: str | None) -> list[Suppression]:
    """A suppressions file (JSON, or YAML with PyYAML) for `ciswatch audit --suppressions FILE`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--suppressions: {exc}") from None
    try:
        import yaml  # noqa: PLC0415 - optional: JSON files need nothing

        loader: Any = yaml.safe_load
    except ImportError:
        loader = None
    try:
        doc = parse_file_text(text, loader)
        return from_document(doc, lambda c: resolve_control(c, benchmark), datetime.now(UTC).date())
    except SuppressionError as exc:
        raise UsageError(f"--suppressions {path}: {exc}") from None
