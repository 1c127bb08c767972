"""ciswatch's Lambda entry points: the schedule and the API produce audit requests, the worker runs them.

Logic lives in chalicelib/; each function here has its own role (.chalice/config.json).
"""

import json
import os
from functools import lru_cache

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from chalice import Chalice, ConvertToMiddleware, IAMAuthorizer, Response

from chalicelib import runs, service
from chalicelib.inventory.aws import TimeBudget
from chalicelib.model.request import MalformedRequest, RunDeadline, parse_message
from chalicelib.settings import NotConfigured, Settings

SERVICE = "ciswatch"
JSON = "application/json"
# Read when Chalice builds the deployment: `CISWATCH_SCHEDULE="cron(0 6 * * ? *)" chalice deploy --stage prod`.
SCHEDULE = os.environ.get("CISWATCH_SCHEDULE", "rate(1 day)")
# The request queue's name and the worker's concurrency cap, read when Chalice builds the deployment:
# `make package` passes ciswatch-<stage>-audit-requests, the queue resources.json creates.
REQUEST_QUEUE = os.environ.get("CISWATCH_REQUEST_QUEUE", "ciswatch-prod-audit-requests")
WORKER_CONCURRENCY = int(os.environ.get("CISWATCH_WORKER_CONCURRENCY", "10"))
# SQS moves a request there after its third failed receive (resources.json's RedrivePolicy).
DEAD_LETTER_QUEUE = f"{REQUEST_QUEUE}-dlq"
# The share of the worker's remaining time the reads may take: the rest records the (partial) result.
READ_BUDGET = 0.8

app = Chalice(app_name=SERVICE)
logger = Logger(service=SERVICE)  # service and namespace are explicit: config env vars are not set at import time
metrics = Metrics(namespace="ciswatch", service=SERVICE)
app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context(clear_state=True)))
# Metrics are flushed by the worker, where runs happen; the schedule and the routes record none, so
# they publish (and warn about) nothing.
iam = IAMAuthorizer()


def _record_metrics(run: dict, trigger: str) -> None:
    """The run's figures, with its trigger as a dimension: on-demand runs (often partial) stay out of
    the daily series that the template's alarms watch."""
    metrics.add_dimension(name="trigger", value=trigger)
    metrics.add_metric(name="AuditSucceeded", unit=MetricUnit.Count, value=1)
    counts = run.get("counts") or {}
    for status, name in (
        ("PASS", "FindingsPass"),
        ("FAIL", "FindingsFail"),
        ("WARNING", "FindingsWarning"),
        ("ERROR", "FindingsError"),
        ("NOT_APPLICABLE", "FindingsNotApplicable"),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=counts.get(status, 0))
    metrics.add_metric(name="Transitions", unit=MetricUnit.Count, value=run.get("transitions", 0))
    metrics.add_metric(name="ApiCalls", unit=MetricUnit.Count, value=run.get("api_calls", 0))
    metrics.add_metric(name="AuditDuration", unit=MetricUnit.Seconds, value=run.get("duration_s", 0))
    metrics.add_metric(name="NotificationFailures", unit=MetricUnit.Count, value=run.get("notification_failures", 0))


def _log_run(run: dict) -> None:
    note = run.get("notification") or {}
    logger.info(
        "audit finished",
        extra={
            "account": run.get("account"),
            "benchmark": run.get("benchmark"),
            "counts": run.get("counts"),
            "transitions": run.get("transitions"),
            "api_calls": run.get("api_calls"),
            "duration_s": run.get("duration_s"),
            "published": note.get("published"),
            "notification_error": note.get("error"),
        },
    )


@app.schedule(SCHEDULE)
def daily_audit(event):
    """Queue today's audit: of this account, or (Organization mode) of every ACTIVE account; the worker runs them."""
    settings = Settings.from_env()
    own = service.caller_account(settings.endpoint_url, settings.profile)
    if settings.organization:
        queued = runs.enqueue_organization(settings, own)
        logger.set_correlation_id(queued["run_id"])
        logger.info("organization audit queued", extra={**queued, "trigger": "schedule"})
        return queued
    request = runs.new_request(settings, own, "schedule")
    logger.set_correlation_id(request.run_id)
    runs.enqueue(settings, request)
    logger.info("audit queued", extra={"run_id": request.run_id, "trigger": "schedule"})
    return {"run_id": request.run_id, "status": "queued"}


@app.on_sqs_message(queue=REQUEST_QUEUE, batch_size=1, maximum_concurrency=WORKER_CONCURRENCY)
def audit_worker(event):
    """Run each request (or a run's deadline timer); report only the messages whose outcome could not be
    recorded (SQS retries those)."""
    failures = []
    settings = Settings.from_env()
    for record in event:
        message = record.to_dict()
        message_id = message.get("messageId")
        attempt = int((message.get("attributes") or {}).get("ApproximateReceiveCount") or 1)
        try:
            request = parse_message(record.body)
        except MalformedRequest as exc:
            # Never runnable: retried until the DLQ keeps it, and its alarm tells someone.
            logger.error("not an audit request", extra={"message_id": message_id, "problem": str(exc)})
            failures.append({"itemIdentifier": message_id})
            continue
        logger.set_correlation_id(request.run_id)
        if isinstance(request, RunDeadline):
            try:
                result, digest = runs.handle_deadline(settings, request)
            except Exception:
                logger.exception("the run's deadline could not be handled", extra={"message_id": message_id})
                failures.append({"itemIdentifier": message_id})
                continue
            logger.info("run deadline", extra={"run_id": request.run_id, "due": request.due, "result": result})
            if _report_run_digest(digest, "schedule"):
                metrics.flush_metrics()
            continue
        remaining = event.context.get_remaining_time_in_millis() / 1000 if event.context else None
        budget = TimeBudget.of(READ_BUDGET * remaining) if remaining else None
        try:
            handled = runs.handle(
                settings,
                request,
                attempt,
                service.caller_account(settings.endpoint_url, settings.profile),
                budget=budget,
            )
        except Exception:
            logger.exception("the outcome could not be recorded", extra={"message_id": message_id})
            failures.append({"itemIdentifier": message_id})
            continue
        _report(handled)
    return {"batchItemFailures": failures}


@app.on_sqs_message(queue=DEAD_LETTER_QUEUE, batch_size=10)
def dead_letters(event):
    """Requests the worker failed on every attempt: each account's ERROR outcome says so (the run then
    closes without waiting for its deadline); the message, whatever it is, is logged whole and counted
    (the DeadLettered metric has an alarm)."""
    settings = Settings.from_env()
    failures = []
    for record in event:
        message = record.to_dict()
        message_id = message.get("messageId")
        receives = int((message.get("attributes") or {}).get("ApproximateReceiveCount") or 0)
        metrics.add_metric(name="DeadLettered", unit=MetricUnit.Count, value=1)
        try:
            parsed = parse_message(record.body)
        except MalformedRequest as exc:
            logger.error("dead letter: not an audit request", extra={"body": record.body, "problem": str(exc)})
            continue
        logger.set_correlation_id(parsed.run_id)
        try:
            result = runs.handle_dead_letter(settings, parsed, receives)
        except Exception:
            logger.exception("the dead letter could not be recorded", extra={"message_id": message_id})
            failures.append({"itemIdentifier": message_id})
            continue
        logger.error("dead letter", extra={"body": record.body, "receives": receives, "result": result})
    metrics.flush_metrics()
    return {"batchItemFailures": failures}


def _report_run_digest(digest: dict | None, trigger: str) -> bool:
    """A run of many accounts closed here: a digest that could not be published counts as a notification
    failure (the template's alarm watches it); its changes wait for the next run's digest. True: counted."""
    if digest is None or not digest.get("error"):
        return False
    logger.error("the run's digest was not published", extra={"error": digest["error"]})
    metrics.add_dimension(name="trigger", value=trigger)
    metrics.add_metric(name="NotificationFailures", unit=MetricUnit.Count, value=1)
    return True


def _report(handled: runs.Handled) -> None:
    if handled.run_digest is not None and handled.run is not None:
        failed = 1 if handled.run_digest.get("error") else 0
        handled.run["notification_failures"] = handled.run.get("notification_failures", 0) + failed
    elif handled.run_digest is not None:
        _report_run_digest(handled.run_digest, handled.request.trigger)
    if handled.outcome is None:
        logger.info("duplicate delivery", extra={"run_id": handled.request.run_id})
        return
    if handled.run is not None:
        _record_metrics(handled.run, handled.request.trigger)
        _log_run(handled.run)
    else:
        metrics.add_dimension(name="trigger", value=handled.request.trigger)
        metrics.add_metric(name="AuditFailed", unit=MetricUnit.Count, value=1)
        logger.error(
            "audit failed",
            extra={
                "run_id": handled.request.run_id,
                "account": handled.request.account,
                "reason": handled.outcome.reason,
            },
        )
    metrics.flush_metrics()


def _error(status: int, body: dict) -> Response:
    return Response(status_code=status, body=body, headers={"Content-Type": "application/json"})


def _api(handler):
    """Turn BadRequest into 400 naming the field, anything unexpected into 500 with a request id only."""

    def wrapped(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except service.BadRequest as exc:
            return _error(400, exc.body())
        except service.NotFound as exc:
            return _error(404, exc.body())
        except NotConfigured as exc:
            logger.error("not configured", extra={"problem": str(exc)})
            return _error(503, {"error": "NotConfigured", "message": str(exc)})
        except Exception:
            request_id = getattr(getattr(app, "lambda_context", None), "aws_request_id", None)
            logger.exception("request failed", extra={"request_id": request_id})
            return _error(
                500,
                {
                    "error": "InternalError",
                    "message": "the request failed; see the function's logs",
                    "request_id": request_id,
                },
            )

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


def _json_body():
    raw = app.current_request.raw_body
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise service.BadRequest("body", f"malformed JSON: {exc}") from None
    except RecursionError:
        raise service.BadRequest("body", "the JSON is nested too deeply") from None


@lru_cache(maxsize=2)
def _idempotent_enqueue(table: str):
    # Deliberate lazy import: Powertools' idempotency utility stays off the cold start of every other route.
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    config = IdempotencyConfig(event_key_jmespath="key", payload_validation_jmespath="body", expires_after_seconds=3600)

    @idempotent_function(
        data_keyword_argument="request", persistence_store=DynamoDBPersistenceLayer(table_name=table), config=config
    )
    def enqueue(request: dict) -> dict:
        # What is stored is this small answer (the run id), never the audit: its size does not grow with the account.
        return _enqueue(request["body"])

    return enqueue, config


def _enqueue(body) -> dict:
    settings = service.parse_audit_request(body, Settings.from_env())
    request = runs.new_request(settings, service.caller_account(settings.endpoint_url, settings.profile), "api")
    logger.set_correlation_id(request.run_id)
    runs.enqueue(settings, request)
    logger.info("audit queued", extra={"run_id": request.run_id, "trigger": "api"})
    return {
        "run_id": request.run_id,
        "status": "queued",
        "link": f"/runs/{request.run_id}",
        "request": request.to_json(),
    }


def _accepted(body: dict) -> Response:
    return Response(status_code=202, body=body, headers={"Content-Type": JSON, "Location": body["link"]})


# Every content type reaches the handler, so that a wrong one gets this API's error shape.
@app.route("/audits", methods=["POST"], authorizer=iam, content_types=["*/*"])
@_api
def post_audit():
    """Queue an audit now; answers 202 with the run id. Body (optional): {"regions": [...], "benchmark": "5.0.0"}.
    Header Idempotency-Key: retry-safe (the same key and body return the same run)."""
    # Deliberate lazy import, as in _idempotent_enqueue.
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    content_type = (app.current_request.headers.get("content-type") or JSON).split(";")[0].strip().lower()
    if app.current_request.raw_body and content_type != JSON:
        return _error(
            415,
            {
                "error": "UnsupportedMediaType",
                "field": "Content-Type",
                "message": f"send the body as {JSON}, not {content_type}",
            },
        )
    body = _json_body()
    key = app.current_request.headers.get("idempotency-key")
    if key is None:
        return _accepted(_enqueue(body))
    table = os.environ.get("CISWATCH_IDEMPOTENCY_TABLE")
    if not table:
        raise service.BadRequest(
            "Idempotency-Key", "this deployment has no idempotency table (CISWATCH_IDEMPOTENCY_TABLE)"
        )
    if not key.strip() or len(key) > 200:
        raise service.BadRequest("Idempotency-Key", "the key must be 1 to 200 characters")
    service.parse_audit_request(body, Settings.from_env())  # a bad body is a 400, never a stored result
    enqueue, config = _idempotent_enqueue(table)
    config.register_lambda_context(app.lambda_context)
    try:
        return _accepted(enqueue(request={"key": key, "body": body if body is not None else {}}))
    except IdempotencyValidationError:
        return _error(
            409, {"error": "Conflict", "field": "Idempotency-Key", "message": "this key was used with a different body"}
        )
    except IdempotencyAlreadyInProgressError:
        return _error(
            409,
            {"error": "Conflict", "field": "Idempotency-Key", "message": "a request with this key is being queued"},
        )


@app.route("/runs/{run_id}", methods=["GET"], authorizer=iam)
@_api
def get_run(run_id):
    """One run: queued, running, done or failed, with each account's outcome and summary."""
    if app.current_request.query_params:
        raise service.BadRequest(sorted(app.current_request.query_params)[0], "this route takes no query parameters")
    return service.run_status(Settings.from_env(), run_id)


@app.route("/findings", methods=["GET"], authorizer=iam)
@_api
def get_findings():
    """Current findings; filters: status, control, region, severity, account; pages: limit, next_token."""
    return service.list_findings(Settings.from_env(), app.current_request.query_params)


@app.route("/findings/{control}", methods=["GET"], authorizer=iam)
@_api
def get_control_findings(control):
    """Current findings of one control; filters: status, region."""
    params = dict(app.current_request.query_params or {})
    if "control" in params:
        raise service.BadRequest("control", "give the control in the path, not also as a query parameter")
    return service.list_findings(Settings.from_env(), params, control=control)


def _caller() -> str | None:
    """Who is calling, as API Gateway's IAM authorizer saw them (kept on suppressions)."""
    identity = (app.current_request.context or {}).get("identity") or {}
    return identity.get("userArn") or identity.get("caller")


@app.route("/suppressions", methods=["GET"], authorizer=iam)
@_api
def get_suppressions():
    """The account's accepted deviations (expired and stale marked); all=true adds removed ones."""
    return service.list_suppressions(Settings.from_env(), app.current_request.query_params)


@app.route("/suppressions", methods=["POST"], authorizer=iam, content_types=["*/*"])
@_api
def post_suppression():
    """Accept a deviation: {"control", "region"?, "resource"?, "reason", "owner", "expires": "YYYY-MM-DD"}."""
    made = service.add_suppression(Settings.from_env(), _json_body(), _caller())
    return Response(status_code=201, body=made, headers={"Content-Type": JSON})


@app.route("/suppressions/{suppression_id}", methods=["DELETE"], authorizer=iam)
@_api
def delete_suppression(suppression_id):
    """End a suppression; who and when are kept."""
    return service.remove_suppression(Settings.from_env(), suppression_id, _caller())


@app.route("/accounts", methods=["GET"], authorizer=iam)
@_api
def get_accounts():
    """Every account the table holds, with its latest complete run (an Organization's overview)."""
    return service.list_accounts(Settings.from_env(), app.current_request.query_params)


@app.route("/runs", methods=["GET"], authorizer=iam)
@_api
def get_runs():
    """Run summaries (the trend); filters: days (default 30), account."""
    return service.list_runs(Settings.from_env(), app.current_request.query_params)
