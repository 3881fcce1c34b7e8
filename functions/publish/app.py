"""Publish function: the table's stream → one EventBridge event per stored state change (the outbox)."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext
from sms_gateway.wiring import LOGGERS, publish_service, stream_changes

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
copy_config_to_registered_loggers(source_logger=logger, include=set(LOGGERS))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    changes = stream_changes(event.get("Records", []))
    outcome = publish_service(metrics).publish(changes)
    return process_partial_response(
        event=event,
        record_handler=lambda record: outcome.check(record.dynamodb.sequence_number),
        processor=processor,
        context=context,
    )
