"""An AWS Organization as ciswatch audits it: its accounts, which ones to audit, and a member's credentials.

Only the management account (or a delegated administrator) can list accounts. Each member is read
through a role in it (``ciswatch-audit`` by default, shipped as a StackSet template in ``deploy/``);
the account that runs ciswatch is audited with its own credentials.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import boto3
import botocore.session
from botocore.exceptions import BotoCoreError, ClientError

from . import catalog
from .inventory.aws import AwsReader, TimeBudget
from .inventory.collect import collect_snapshot
from .inventory.errors import InventoryError
from .model import AccountSnapshot, Finding, Scope, Status
from .model.errors import one_line
from .model.findings import account_resource
from .settings import Settings

AUDITABLE_STATE = "ACTIVE"  # PENDING_ACTIVATION, SUSPENDED, PENDING_CLOSURE, CLOSED are skipped, named
SESSION_NAME = "ciswatch-audit"


@dataclass(frozen=True, slots=True)
class MemberAccount:
    id: str
    name: str
    state: str  # Organizations' `State` (its older `Status` is retired and only a fallback here)


@dataclass(frozen=True, slots=True)
class Selection:
    """Which accounts a run audits: include/exclude by account id and by OU (an OU includes its children)."""

    include_accounts: frozenset[str] = frozenset()
    exclude_accounts: frozenset[str] = frozenset()
    include_ous: frozenset[str] = frozenset()
    exclude_ous: frozenset[str] = frozenset()


class CannotAssume(Exception):
    """The member role could not be assumed: the account's audit is an ERROR naming why (never retried)."""


def list_accounts(orgs: Any) -> list[MemberAccount]:
    """Every account of the Organization (ListAccounts, paginated)."""
    out: list[MemberAccount] = []
    for page in orgs.get_paginator("list_accounts").paginate(PaginationConfig={"PageSize": 20}):
        for a in page.get("Accounts", []):
            state = a.get("State") or a.get("Status") or "UNKNOWN"
            out.append(MemberAccount(str(a["Id"]), str(a.get("Name") or ""), str(state)))
    return out


def accounts_under(orgs: Any, parents: Iterable[str]) -> set[str]:
    """The account ids under these OUs (or roots), at any depth."""
    found: set[str] = set()
    pending = list(parents)
    seen: set[str] = set()
    while pending:
        parent = pending.pop()
        if parent in seen:
            continue
        seen.add(parent)
        for page in orgs.get_paginator("list_accounts_for_parent").paginate(ParentId=parent):
            found.update(str(a["Id"]) for a in page.get("Accounts", []))
        for page in orgs.get_paginator("list_organizational_units_for_parent").paginate(ParentId=parent):
            pending.extend(str(ou["Id"]) for ou in page.get("OrganizationalUnits", []))
    return found


def select(
    accounts: list[MemberAccount],
    selection: Selection,
    in_included_ous: set[str] | None = None,
    in_excluded_ous: set[str] | None = None,
) -> list[MemberAccount]:
    """The accounts a run covers (ACTIVE or not: the caller skips the others with their state, named)."""
    chosen = []
    for a in accounts:
        wanted = not (selection.include_accounts or selection.include_ous)
        wanted = wanted or a.id in selection.include_accounts or a.id in (in_included_ous or set())
        unwanted = a.id in selection.exclude_accounts or a.id in (in_excluded_ous or set())
        if wanted and not unwanted:
            chosen.append(a)
    return sorted(chosen, key=lambda a: a.id)


def member_session(
    base: Any, account: str, role_name: str, partition: str, external_id: str | None = None
) -> boto3.Session:
    """A boto3 session with the member role's credentials. Raises CannotAssume naming the role and the cause."""
    role_arn = f"arn:{partition}:iam::{account}:role/{role_name}"
    kwargs: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": SESSION_NAME, "DurationSeconds": 3600}
    if external_id:
        kwargs["ExternalId"] = external_id
    try:
        creds = base.assume_role(**kwargs)["Credentials"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise CannotAssume(
            f"sts:AssumeRole into {role_arn} failed: {error.get('Code')}: {one_line(str(error.get('Message') or ''))}"
        ) from None
    except BotoCoreError as exc:
        raise CannotAssume(f"sts:AssumeRole into {role_arn} failed: {one_line(str(exc))}") from None
    return credentials_session(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


@lru_cache(maxsize=1)
def _service_models() -> Any:
    return botocore.session.get_session().get_component("data_loader")


def credentials_session(access_key: str, secret_key: str, token: str) -> boto3.Session:
    """A session for one account's credentials that shares the process's parsed service models: a fresh
    boto3 Session per account re-reads them (about 250 ms of CPU for an audit's six clients; shared,
    about 20 ms; `make bench` reports both)."""
    core = botocore.session.Session()
    core.register_component("data_loader", _service_models())
    return boto3.Session(
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=token,
        botocore_session=core,
    )


def unaudited_findings(account: str, partition: str, benchmark: str | None, reason: str) -> list[Finding]:
    """One ERROR per control of the benchmark for an account that could not be read at all."""
    version = catalog.resolve_benchmark(benchmark)
    out = []
    for ctl in catalog.controls():
        cis_id = ctl.cis_id(version)
        if cis_id is None:
            continue
        out.append(
            Finding(
                account=account,
                control=ctl.id,
                cis_id=cis_id,
                security_hub_id=ctl.security_hub,
                status=Status.ERROR,
                severity=ctl.severity(version),
                region=None,
                resource=account_resource(partition, account),
                reason=reason,
                scope=Scope.CONTROL,
            )
        )
    return out


# The owners' snapshots a worker read, by (run, owner, regions): one read per run and container, not
# one per member account (an Organization's members share one trail owner).
_OWNERS_READ: dict[tuple[str, str, tuple[str, ...]], AccountSnapshot] = {}
_OWNERS_KEPT = 8


def with_trail_owners(
    settings: Settings,
    snapshot: AccountSnapshot,
    run_id: str,
    own_account: str,
    sts: Any,
    partition: str,
    budget: TimeBudget | None = None,
) -> AccountSnapshot:
    """The member's snapshot with the chains of the accounts that own its organization trails: read in
    the trail's home region with the function's own role (its own account) or the member role (any
    other); one that cannot be read is named, so its controls say ERROR, not "audit that account"."""
    homes: dict[str, set[str]] = {}
    for trail in snapshot.trails.items:
        foreign = trail.owner_account and trail.owner_account != snapshot.account
        if trail.is_multi_region and foreign and trail.owner_account and trail.home_region:
            homes.setdefault(trail.owner_account, set()).add(trail.home_region)
    owners, errors = {}, {}
    for owner, regions in sorted(homes.items()):
        key = (run_id, owner, tuple(sorted(regions)))
        if key not in _OWNERS_READ:
            scoped = settings.with_(regions=key[2])
            try:
                session = None
                if owner != own_account:
                    session = member_session(sts, owner, settings.member_role, partition, settings.external_id)
                _OWNERS_READ[key] = collect_snapshot(scoped, reader=AwsReader(scoped, session=session, budget=budget))
            except (CannotAssume, InventoryError) as exc:
                errors[owner] = one_line(str(exc))
                continue
            while len(_OWNERS_READ) > _OWNERS_KEPT:
                _OWNERS_READ.pop(next(iter(_OWNERS_READ)))
        owners[owner] = _OWNERS_READ[key]
    if not owners and not errors:
        return snapshot
    return replace(snapshot, trail_owners=owners, trail_owner_errors=errors)
