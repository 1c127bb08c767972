"""ciswatch's Lambda entry points: the daily schedule and the on-demand API. Logic lives in chalicelib/."""

import json
import os
from functools import lru_cache

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from chalice import Chalice, ConvertToMiddleware, IAMAuthorizer, Response

from chalicelib import service
from chalicelib.pipeline import new_run_id
from chalicelib.settings import Settings

SERVICE = "ciswatch"
JSON = "application/json"
# Read when Chalice builds the deployment: `CISWATCH_SCHEDULE="cron(0 6 * * ? *)" chalice deploy --stage prod`.
SCHEDULE = os.environ.get("CISWATCH_SCHEDULE", "rate(1 day)")

app = Chalice(app_name=SERVICE)
logger = Logger(service=SERVICE)  # service and namespace are explicit: config env vars are not set at import time
metrics = Metrics(namespace="ciswatch", service=SERVICE)
app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context(clear_state=True)))
# Metrics are flushed where runs happen: around the schedule, and by POST /audits itself; the read-only
# routes record none, so they publish (and warn about) nothing.
app.register_middleware(ConvertToMiddleware(metrics.log_metrics(capture_cold_start_metric=True)), "scheduled")
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
    run_id = new_run_id()
    logger.set_correlation_id(run_id)
    body = service.audit_now(Settings.from_env(), run_id=run_id)
    _record_metrics(body["run"], "schedule")
    _log_run(body["run"])
    return body["run"]


def _error(status: int, body: dict) -> Response:
    return Response(status_code=status, body=body, headers={"Content-Type": "application/json"})


def _api(handler):
    """Turn BadRequest into 400 naming the field, anything unexpected into 500 with a request id only."""

    def wrapped(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except service.BadRequest as exc:
            return _error(400, exc.body())
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
def _idempotent_audit(table: str):
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
    def audit(request: dict) -> dict:
        return _run_audit(request["body"])

    return audit, config


def _run_audit(body) -> dict:
    settings = service.parse_audit_request(body, Settings.from_env())
    run_id = new_run_id()
    logger.set_correlation_id(run_id)
    result = service.audit_now(settings, run_id=run_id)
    _record_metrics(result["run"], "api")
    metrics.flush_metrics()
    _log_run(result["run"])
    return result


# Every content type reaches the handler, so that a wrong one gets this API's error shape.
@app.route("/audits", methods=["POST"], authorizer=iam, content_types=["*/*"])
@_api
def post_audit():
    """Run an audit now. Body (optional): {"regions": [...], "benchmark": "5.0.0"}. Header Idempotency-Key: retry-safe."""
    # Deliberate lazy import, as in _idempotent_audit.
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
        return _run_audit(body)
    table = os.environ.get("CISWATCH_IDEMPOTENCY_TABLE")
    if not table:
        raise service.BadRequest(
            "Idempotency-Key", "this deployment has no idempotency table (CISWATCH_IDEMPOTENCY_TABLE)"
        )
    if not key.strip() or len(key) > 200:
        raise service.BadRequest("Idempotency-Key", "the key must be 1 to 200 characters")
    service.parse_audit_request(body, Settings.from_env())  # a bad body is a 400, never a stored result
    audit, config = _idempotent_audit(table)
    config.register_lambda_context(app.lambda_context)
    try:
        return audit(request={"key": key, "body": body if body is not None else {}})
    except IdempotencyValidationError:
        return _error(
            409, {"error": "Conflict", "field": "Idempotency-Key", "message": "this key was used with a different body"}
        )
    except IdempotencyAlreadyInProgressError:
        return _error(
            409, {"error": "Conflict", "field": "Idempotency-Key", "message": "an audit with this key is still running"}
        )


@app.route("/findings", methods=["GET"], authorizer=iam)
@_api
def get_findings():
    """Current findings; filters: status, control, region."""
    return service.list_findings(Settings.from_env(), app.current_request.query_params)


@app.route("/findings/{control}", methods=["GET"], authorizer=iam)
@_api
def get_control_findings(control):
    """Current findings of one control; filters: status, region."""
    params = dict(app.current_request.query_params or {})
    if "control" in params:
        raise service.BadRequest("control", "give the control in the path, not also as a query parameter")
    return service.list_findings(Settings.from_env(), params, control=control)


@app.route("/runs", methods=["GET"], authorizer=iam)
@_api
def get_runs():
    """Run summaries (the trend); filter: days (default 30)."""
    return service.list_runs(Settings.from_env(), app.current_request.query_params)
