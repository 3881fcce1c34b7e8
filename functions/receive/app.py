"""Receive function: Asanak's inbound push (GET /inbound/<token>) → stored once → SMS Received.

The URL token is a secret: this module never logs the event, the path or the route arguments
(``log_event=False`` and ``debug=False`` win over POWERTOOLS_LOGGER_LOG_EVENT / POWERTOOLS_DEV, and
Powertools' own debug logging of route arguments is switched off below).
"""

import logging

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from sms_gateway.domain.errors import (
    Forbidden,
    InboundParseError,
    PublishError,
    RequestTooLarge,
    SecretError,
    StoreError,
)
from sms_gateway.domain.inbound.service import InboundRequest
from sms_gateway.wiring import LOGGERS, receive_service

TEXT = "text/plain; charset=utf-8"

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayHttpResolver(debug=False)
copy_config_to_registered_loggers(source_logger=logger, include=set(LOGGERS))
# Powertools logs route arguments (the token) at DEBUG when POWERTOOLS_DEBUG is set: never here.
logging.getLogger("aws_lambda_powertools.event_handler").setLevel(logging.INFO)


def plain(status: int, body: str) -> Response:
    return Response(status_code=status, content_type=TEXT, body=body)


@app.get("/inbound/<token>")
def inbound(token: str) -> Response:
    event = app.current_event
    request = InboundRequest(
        token=token,
        source_ip=event.request_context.http.source_ip,
        raw_query=event.get("rawQueryString"),  # absent in some test tools
        query=event.query_string_parameters,
        body=event.body,
        body_is_base64=bool(event.is_base64_encoded),
    )
    receive_service(metrics).handle(request)
    return plain(200, "OK")


@app.exception_handler(InboundParseError)
def bad_request(error: InboundParseError) -> Response:
    logger.warning("inbound push refused", extra={"field": error.field, "reason": error.reason})
    metrics.add_metric(name="InboundInvalid", unit=MetricUnit.Count, value=1)
    return plain(400, f"{error.reason} {error.field}")


@app.exception_handler(Forbidden)
def forbidden(_: Forbidden) -> Response:
    return plain(403, "forbidden")


@app.exception_handler(RequestTooLarge)
def too_large(error: RequestTooLarge) -> Response:
    logger.warning("inbound push refused: too large", extra={"detail": str(error)})
    metrics.add_metric(name="InboundTooLarge", unit=MetricUnit.Count, value=1)
    return plain(413, "too large")


@app.not_found
def not_found(_: NotFoundError) -> Response:
    return plain(404, "not found")


# Any outage of what a push needs (the table, the bus, the inbound secret) is a 503: Asanak retries.
# The adapters raise only these domain errors (SecretUnavailable is a SecretError).
@app.exception_handler([StoreError, PublishError, SecretError])
def unavailable(_: Exception) -> Response:
    logger.exception("inbound push not handled; the provider may retry it")
    metrics.add_metric(name="InboundUnavailable", unit=MetricUnit.Count, value=1)
    return plain(503, "unavailable")


@logger.inject_lambda_context(log_event=False, correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
