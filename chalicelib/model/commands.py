"""AWS CLI command lines, as a FAIL's remediation and the remediation plan print them (pure text)."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from .conventions import ALARM_SETTINGS, ALL_MANAGEMENT_EVENTS


def cli(base: str, **options: Any) -> str:
    """``aws ... --an-option 'value'``: option names from snake_case, values shell-quoted."""
    parts = [base]
    for key, value in options.items():
        parts.append(f"--{key.replace('_', '-')} {shlex.quote(str(value))}")
    return " ".join(parts)


def filter_command(region: str, log_group: str, filter_name: str, pattern: str, metric: str, namespace: str) -> str:
    return cli(
        "aws logs put-metric-filter",
        region=region,
        log_group_name=log_group,
        filter_name=filter_name,
        filter_pattern=pattern,
        metric_transformations=f"metricName={metric},metricNamespace={namespace},metricValue=1",
    )


def alarm_command(region: str, alarm_name: str, metric: str, namespace: str, topic_arn: str) -> str:
    settings = {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): v for k, v in ALARM_SETTINGS.items()}
    return cli(
        "aws cloudwatch put-metric-alarm",
        region=region,
        alarm_name=alarm_name,
        metric_name=metric,
        namespace=namespace,
        **settings,
        alarm_actions=topic_arn,
    )


def start_logging_command(trail: str, region: str | None) -> str:
    return cli("aws cloudtrail start-logging", name=trail, region=region)


def all_management_events_command(trail: str, region: str | None) -> str:
    selectors = json.dumps(ALL_MANAGEMENT_EVENTS, separators=(",", ":"))
    return cli("aws cloudtrail put-event-selectors", trail_name=trail, event_selectors=selectors, region=region)


def enable_alarm_actions_command(alarm_name: str) -> str:
    return f"aws cloudwatch enable-alarm-actions --alarm-names {shlex.quote(alarm_name)}"
