"""Send function: SQS batch of SMS requests → Asanak sendsms → events. Logic lives in the layer."""

from datetime import timedelta

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext
from sms_gateway.domain.sending.service import Envelope
from sms_gateway.wiring import LOGGERS, send_service

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
copy_config_to_registered_loggers(source_logger=logger, include=set(LOGGERS))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    envelopes = [
        Envelope(record["messageId"], record["body"], int(record["attributes"]["ApproximateReceiveCount"]))
        for record in event.get("Records", [])
    ]
    remaining = timedelta(milliseconds=context.get_remaining_time_in_millis())
    outcome = send_service(metrics).send_batch(envelopes, remaining)
    return process_partial_response(
        event=event,
        record_handler=lambda record: outcome.check(record.message_id),
        processor=processor,
        context=context,
    )
