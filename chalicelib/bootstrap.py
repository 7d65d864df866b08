"""The composition root, built lazily on first use (app.py imports with no AWS access)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from . import budget
from .config import Settings
from .service.clock import Clock, SystemClock

# Each use case is imported when first built: the stream consumer's Lambda never
# loads the HTTP-only ones, the API's never the consumer.
if TYPE_CHECKING:
    from .service.console import Console
    from .service.consumers import Consumers
    from .service.deps import Deps
    from .service.erasure import Erasures
    from .service.history import History
    from .service.imports import Imports
    from .service.messengers import Messengers
    from .service.sessions import Sessions
    from .service.unifications import Unifications
    from .service.users import Users
    from .service.webhooks import Invoker, Webhooks


def dynamodb_client(settings: Settings) -> Any:
    """No single call outlasts a request's 20 s, and none starts past its budget (budget.py).

    An endpoint of one's own (`make run`'s moto, the tests') answers one request at a
    time: under 50 concurrent logins a call may wait its turn for seconds, which is
    queueing, not a dead connection, so it gets a longer read timeout."""
    read_timeout = budget.READ_TIMEOUT if settings.dynamodb_endpoint_url is None else budget.LOCAL_READ_TIMEOUT
    config = Config(
        retries={"mode": "standard", "max_attempts": budget.MAX_ATTEMPTS},
        connect_timeout=budget.CONNECT_TIMEOUT,
        read_timeout=read_timeout,
        max_pool_connections=50,
        # DynamoDB validates every request itself; botocore's client-side pass over
        # each parameter costs a tenth of an import's CPU and catches nothing more.
        parameter_validation=False,
    )
    client = boto3.client(
        "dynamodb", region_name=settings.region, endpoint_url=settings.dynamodb_endpoint_url, config=config
    )
    client.meta.events.register("before-send.dynamodb", budget.before_send)
    return client


@dataclass
class Container:
    settings: Settings
    client: Any
    clock: Clock

    @cached_property
    def deps(self) -> Deps:
        from .service.deps import Deps
        from .store.dynamo import DynamoStore

        return Deps(store=DynamoStore(self.client, self.settings.table_name), clock=self.clock, settings=self.settings)

    @cached_property
    def sessions(self) -> Sessions:
        from .service.sessions import Sessions

        return Sessions(self.deps)

    @cached_property
    def unifications(self) -> Unifications:
        from .service.unifications import Unifications

        return Unifications(self.deps)

    @cached_property
    def users(self) -> Users:
        from .service.users import Users

        return Users(self.deps, self.unifications)

    @cached_property
    def history(self) -> History:
        from .service.history import History

        return History(self.deps)

    @cached_property
    def messengers(self) -> Messengers:
        from .service.messengers import Messengers

        return Messengers(self.deps)

    @cached_property
    def imports(self) -> Imports:
        from .service.imports import Imports

        return Imports(self.deps, self.users, self.unifications)

    @cached_property
    def console(self) -> Console:
        from .service.console import Console

        return Console(self.deps)

    @cached_property
    def consumers(self) -> Consumers:
        from .service.consumers import Consumers

        return Consumers(self.deps, self.unifications, self.history, self.webhooks, self.erasures)

    @cached_property
    def erasures(self) -> Erasures:
        from .service.erasure import Erasures

        return Erasures(self.deps, self.unifications)

    @cached_property
    def webhooks(self) -> Webhooks:
        """Subscriptions and messages; each message delivered by an invocation of its own."""
        from . import webhook_http
        from .api.views import change_json
        from .service.webhooks import Webhooks

        deployed = self.settings.deployed

        def post(url: str, body: bytes, headers: dict[str, str]) -> webhook_http.Outcome:
            return webhook_http.post(url, body, headers, deployed=deployed)

        webhooks = Webhooks(self.deps, change_json, post)
        webhooks.invoker = invoker_for(self.settings, webhooks)
        return webhooks


class ThreadInvoker:
    """Delivers each message in a thread of its own (`make run`, tests)."""

    def __init__(self, deliver: Any, workers: int = 16) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._deliver = deliver
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook")

    def deliver(self, ref: str) -> None:
        self._pool.submit(self._deliver, ref)


class LambdaInvoker:
    """Delivers each message in an invocation of its own: the `deliver_webhook` function,
    invoked asynchronously (Lambda retries it; the schedule finds what is still due)."""

    def __init__(self, function_name: str, region: str) -> None:
        self.function_name = function_name
        self.client = boto3.client("lambda", region_name=region)

    def deliver(self, ref: str) -> None:
        import json

        self.client.invoke(
            FunctionName=self.function_name, InvocationType="Event", Payload=json.dumps({"message": ref}).encode()
        )


def invoker_for(settings: Settings, webhooks: Webhooks) -> Invoker:
    if settings.deployed and settings.webhook_function_name:
        return LambdaInvoker(settings.webhook_function_name, settings.region)
    return ThreadInvoker(webhooks.deliver)


_lock = threading.Lock()
_container: Container | None = None


def container() -> Container:
    global _container
    with _lock:
        if _container is None:
            settings = Settings.from_env()
            _container = Container(settings=settings, client=dynamodb_client(settings), clock=SystemClock())
        return _container


def reset(new: Container | None = None) -> None:
    """Forget the built container (tests, or a changed environment)."""
    global _container
    with _lock:
        _container = new
