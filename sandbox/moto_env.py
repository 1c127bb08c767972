"""A moto server on loopback and a seeder for realistic accounts (demo, tests, bench; never deployed).

Everything talks HTTP to the server; only ``aws_managed_key`` and ``set_key_state`` edit moto's
backend directly, for states the API cannot create (moto has no AWS managed keys).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import requests  # moto's own dependency; moto reads this body the way requests sends it
from moto.backends import get_backend
from moto.server import ThreadedMotoServer

from chalicelib import catalog
from chalicelib.checks.judge import recommended_pattern
from chalicelib.clients import ClientFactory
from chalicelib.model.conventions import ALARM_SETTINGS, ALL_MANAGEMENT_EVENTS, DEFAULT_NAMESPACE
from chalicelib.settings import Settings

ACCOUNT = "123456789012"


@contextmanager
def moto_server(quiet: bool = False):
    """Start moto in this process on a free loopback port; yields its URL; stops it afterwards.

    ``quiet`` hides moto's own request tracebacks (moto 5.2 sometimes answers 500 under concurrent
    requests; botocore retries those), so that the demo output stays readable."""
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL if quiet else logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def use_endpoint(url: str) -> None:
    """Point boto3 at the server with dummy credentials (the process talks to nothing else)."""
    os.environ.update(
        AWS_ENDPOINT_URL=url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION=os.environ.get("AWS_DEFAULT_REGION", "ap-northeast-1"),
    )
    os.environ.pop("AWS_PROFILE", None)


def reset(url: str) -> None:
    # A server that has held many accounts takes a while to reset all their backends.
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=120).read()


class MotoAccount:
    """Builds account state through the AWS API, the way a user would."""

    def __init__(self, url: str, session: Any = None):
        self.url = url
        self._account_id: str | None = None if session is not None else ACCOUNT  # moto's default account
        session = session or boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
        self._clients = ClientFactory(Settings(endpoint_url=url), session=session)

    @property
    def account_id(self) -> str:
        if self._account_id is None:
            self._account_id = str(self.client("sts", "us-east-1").get_caller_identity()["Account"])
        return self._account_id

    def member(self, account_id: str) -> MotoAccount:
        """The same builder inside another account of moto's (assumed-role keys map to the role's account)."""
        creds = self.client("sts", "us-east-1").assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole", RoleSessionName="sandbox"
        )["Credentials"]
        session = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        return MotoAccount(self.url, session)

    def organization(self, members: int, suspended: int = 0) -> list[str]:
        """An Organization with this account as its management account and ``members`` new accounts, the
        last ``suspended`` of them closed (SUSPENDED). Returns the member account ids in creation order."""
        orgs = self.client("organizations", "us-east-1")
        orgs.create_organization(FeatureSet="ALL")
        ids = []
        for i in range(members):
            status = orgs.create_account(AccountName=f"member-{i:03d}", Email=f"member-{i:03d}@example.com")
            ids.append(status["CreateAccountStatus"]["AccountId"])
        for account_id in ids[len(ids) - suspended :] if suspended else []:
            orgs.close_account(AccountId=account_id)
        return ids

    def client(self, service: str, region: str):
        return self._clients.client(service, region)

    # --- CloudTrail ---------------------------------------------------------------------------

    def trail(
        self,
        name: str = "main",
        region: str = "ap-northeast-1",
        multi_region: bool = True,
        log_group: str | None = "CloudTrail/DefaultLogGroup",
        logging_on: bool = True,
        selectors="all",
    ) -> dict:
        bucket = f"{name}-trail-{region}".lower()
        if self.account_id != ACCOUNT:  # bucket names are global: one per account
            bucket = f"{bucket}-{self.account_id}"
        s3 = self.client("s3", region)
        conf = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=bucket, **conf)
        kwargs = {"Name": name, "S3BucketName": bucket, "IsMultiRegionTrail": multi_region}
        lg_arn = None
        if log_group:
            lg_arn = self.log_group(log_group, region)
            role = self._trail_role()
            kwargs.update(CloudWatchLogsLogGroupArn=lg_arn, CloudWatchLogsRoleArn=role)
        ct = self.client("cloudtrail", region)
        arn = ct.create_trail(**kwargs)["TrailARN"]
        if logging_on:
            ct.start_logging(Name=arn)
        self.set_selectors(arn, region, selectors)
        return {"arn": arn, "name": name, "region": region, "log_group": log_group, "log_group_arn": lg_arn}

    def set_selectors(self, trail_arn: str, region: str, selectors) -> None:
        ct = self.client("cloudtrail", region)
        if selectors is None:
            return
        if selectors == "all":
            ct.put_event_selectors(TrailName=trail_arn, EventSelectors=ALL_MANAGEMENT_EVENTS)
        elif selectors in ("WriteOnly", "ReadOnly"):
            ct.put_event_selectors(
                TrailName=trail_arn, EventSelectors=[{"ReadWriteType": selectors, "IncludeManagementEvents": True}]
            )
        elif selectors == "advanced":
            ct.put_event_selectors(
                TrailName=trail_arn,
                AdvancedEventSelectors=[
                    {"Name": "management", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}
                ],
            )
        elif selectors == "advanced-write-only":
            ct.put_event_selectors(
                TrailName=trail_arn,
                AdvancedEventSelectors=[
                    {
                        "Name": "writes",
                        "FieldSelectors": [
                            {"Field": "eventCategory", "Equals": ["Management"]},
                            {"Field": "readOnly", "Equals": ["false"]},
                        ],
                    }
                ],
            )
        elif isinstance(selectors, dict):
            ct.put_event_selectors(TrailName=trail_arn, **selectors)
        else:
            raise ValueError(f"unknown selectors {selectors!r}")

    def _trail_role(self) -> str:
        iam = self.client("iam", "us-east-1")
        try:
            return iam.get_role(RoleName="CloudTrailToCloudWatchLogs")["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            doc = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudtrail.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
            return iam.create_role(RoleName="CloudTrailToCloudWatchLogs", AssumeRolePolicyDocument=json.dumps(doc))[
                "Role"
            ]["Arn"]

    def log_group(self, name: str, region: str) -> str:
        logs = self.client("logs", region)
        try:
            logs.create_log_group(logGroupName=name)
        except logs.exceptions.ResourceAlreadyExistsException:
            pass
        return f"arn:aws:logs:{region}:{self.account_id}:log-group:{name}:*"

    # --- SNS ----------------------------------------------------------------------------------

    def topic(
        self,
        region: str = "ap-northeast-1",
        name: str = "cis-alarms",
        subscribe: str | None = "email",
        kms_key: str | None = None,
    ) -> str:
        sns = self.client("sns", region)
        attrs = {"KmsMasterKeyId": kms_key} if kms_key else {}
        arn = sns.create_topic(Name=name, Attributes=attrs)["TopicArn"]
        if subscribe == "email":
            sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="security@example.com")
        elif subscribe == "sqs":
            self.sqs_subscriber(arn, region)
        return arn

    def request_queue(
        self, region: str, name: str, visibility_timeout: int = 30, max_receives: int = 3
    ) -> dict[str, str]:
        """The audit-request queue as resources.json makes it: a redrive to a dead-letter queue after
        ``max_receives`` receives (a short visibility timeout lets a test see redeliveries)."""
        sqs = self.client("sqs", region)
        dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)})
        url = sqs.create_queue(
            QueueName=name, Attributes={"VisibilityTimeout": str(visibility_timeout), "RedrivePolicy": policy}
        )["QueueUrl"]
        return {"url": url, "dlq": dlq}

    def sqs_subscriber(self, topic_arn: str, region: str, name: str = "digest-capture") -> str:
        sqs = self.client("sqs", region)
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.client("sns", region).subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=qarn)
        return url

    # --- filters and alarms -------------------------------------------------------------------

    def monitor(
        self,
        control: str,
        region: str,
        log_group: str,
        topic_arn: str | None,
        pattern: str | None = None,
        benchmark: str = "5.0.0",
        namespace: str = DEFAULT_NAMESPACE,
        alarm_namespace: str | None = None,
        alarm: bool = True,
        actions_enabled: bool = True,
        statistic: str = "Sum",
        default_value: float | None = None,
    ) -> dict:
        ctl = catalog.control(control)
        pattern = pattern or recommended_pattern(control, benchmark)
        metric = ctl.metric_name
        self.client("logs", region).put_metric_filter(
            logGroupName=log_group,
            filterName=f"cis-{control}",
            filterPattern=pattern,
            metricTransformations=[
                {
                    "metricName": metric,
                    "metricNamespace": namespace,
                    "metricValue": "1",
                    **({} if default_value is None else {"defaultValue": default_value}),
                }
            ],
        )
        if alarm:
            self.client("cloudwatch", region).put_metric_alarm(
                AlarmName=f"cis-{control}",
                MetricName=metric,
                Namespace=alarm_namespace or namespace,
                **{**ALARM_SETTINGS, "Statistic": statistic},
                ActionsEnabled=actions_enabled,
                AlarmActions=[topic_arn] if topic_arn else [],
            )
        return {"filter": f"cis-{control}", "metric": metric, "alarm": f"cis-{control}" if alarm else None}

    def monitor_all(self, region: str, log_group: str, topic_arn: str, benchmark: str = "5.0.0", skip=()) -> None:
        for ctl in catalog.monitoring_controls(benchmark):
            if ctl.id not in skip:
                self.monitor(ctl.id, region, log_group, topic_arn, benchmark=benchmark)

    # --- KMS ----------------------------------------------------------------------------------

    def key(
        self,
        region: str,
        rotation: bool | None = False,
        spec: str = "SYMMETRIC_DEFAULT",
        usage: str | None = None,
        origin: str = "AWS_KMS",
        alias: str | None = None,
        period: int | None = None,
        description: str = "",
    ) -> str:
        kms = self.client("kms", region)
        if usage is None:
            usage = (
                "GENERATE_VERIFY_MAC"
                if spec.startswith("HMAC")
                else "SIGN_VERIFY"
                if spec.startswith(("ECC", "RSA"))
                else "ENCRYPT_DECRYPT"
            )
        key_id = kms.create_key(KeySpec=spec, KeyUsage=usage, Origin=origin, Description=description)["KeyMetadata"][
            "KeyId"
        ]
        if rotation:
            kms.enable_key_rotation(KeyId=key_id, **({"RotationPeriodInDays": period} if period else {}))
        if alias:
            kms.create_alias(AliasName=alias, TargetKeyId=key_id)
        return key_id

    def _kms_backend(self, region):
        return get_backend("kms")[self.account_id][region]

    def aws_managed_key(self, region: str, service: str = "lambda", rotation_reads: bool = False) -> str:
        """An AWS managed key (alias/aws/<service>), which moto cannot create through its API."""
        key_id = self.key(
            region,
            description=f"Default master key that protects my {service.capitalize()} functions when no other encryption key is defined",
        )
        backend = self._kms_backend(region)
        backend.keys[key_id].key_manager = "AWS"
        backend.keys[key_id].key_rotation_status = rotation_reads
        backend.create_alias(key_id, f"alias/aws/{service}")
        return key_id

    def set_key_state(self, region: str, key_id: str, state: str) -> None:
        self._kms_backend(region).keys[key_id].key_state = state


@contextmanager
def moto_process(extra_env: dict | None = None):
    """moto in its own process on a free loopback port (its IAM enforcement switch is process-wide)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "moto_server"
    env = {**os.environ, **(extra_env or {})}
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("moto server did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def set_auth(url: str, unauthenticated_requests: float) -> None:
    """Enforce IAM after this many more requests (0: from now on; inf: never)."""
    resp = requests.post(f"{url}/moto-api/reset-auth", data=str(unauthenticated_requests).encode(), timeout=10)
    resp.raise_for_status()
