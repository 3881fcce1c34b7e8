"""Poll function: scheduled → deferred requests due back to the send queue, then Asanak msgstatus for
messages in flight → status events. Logic in the layer."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext
from sms_gateway.wiring import LOGGERS, poll_budget, poll_service, release_budget, release_service

logger = Logger()
tracer = Tracer()
metrics = Metrics()
copy_config_to_registered_loggers(source_logger=logger, include=set(LOGGERS))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    released = release_service(metrics).run(release_budget(context.get_remaining_time_in_millis() / 1000))
    budget = poll_budget(context.get_remaining_time_in_millis() / 1000)
    return {**poll_service(metrics).run(budget_seconds=budget).to_dict(), **released.to_dict()}
