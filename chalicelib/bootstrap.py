"""The composition root, built lazily on first use (app.py imports with no AWS access)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from .config import Settings
from .service.clock import Clock, SystemClock

# Each use case is imported when first built: the stream consumer's Lambda never
# loads the HTTP-only ones, the API's never the consumer.
if TYPE_CHECKING:
    from .service.console import Console
    from .service.consumers import Consumers
    from .service.deps import Deps
    from .service.history import History
    from .service.imports import Imports
    from .service.messengers import Messengers
    from .service.sessions import Sessions
    from .service.unifications import Unifications
    from .service.users import Users


def dynamodb_client(settings: Settings) -> Any:
    config = Config(
        retries={"mode": "standard", "max_attempts": 8},
        connect_timeout=5,
        read_timeout=15,
        max_pool_connections=50,
        # DynamoDB validates every request itself; botocore's client-side pass over
        # each parameter costs a tenth of an import's CPU and catches nothing more.
        parameter_validation=False,
    )
    return boto3.client(
        "dynamodb", region_name=settings.region, endpoint_url=settings.dynamodb_endpoint_url, config=config
    )


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

        return Consumers(self.deps, self.unifications, self.history)


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
