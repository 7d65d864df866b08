"""One typed settings object, read from the environment in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from .secrets import accepted, with_secrets
from .store.schema import DEFAULT_TABLE_NAME


@dataclass(frozen=True)
class Settings:
    table_name: str = DEFAULT_TABLE_NAME
    dynamodb_endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key: str | None = None
    access_secret: str | None = None
    plugin_key: str | None = None
    member_hash_secret: str | None = None
    # Still accepted during a rotation (secrets.ROTATED_NAMES); never used to make anything new.
    access_secret_previous: str | None = None
    member_hash_secret_previous: str | None = None
    session_timeout_seconds: int = 1800
    schedule_interval_seconds: int = 60
    default_phone_region: str = "JP"
    move_chunk_size: int = 500
    # A history of up to this many chats and events moves inside the unification itself
    # (complete as it commits, issue 13); 0: every history moves afterwards.
    move_in_commit_items: int = 8
    # A completed move's originals are deleted this long after it (R3.3: longer than any read).
    move_cleanup_grace_seconds: int = 60
    max_contact_matches: int = 5
    contact_blocklist: tuple[str, ...] = field(default_factory=tuple)
    # API Gateway hands Lambda decoded path parameters; Chalice's local server does not.
    decode_path_params: bool = True
    # Origins the customer-side routes answer (CORS); "*" for any. None set: no browser access.
    allowed_origins: tuple[str, ...] = ()
    # Running as a Lambda function (a deployed stage), not `make run` or a test.
    deployed: bool = False
    # The function that delivers one webhook message (deployed stages; locally a thread).
    webhook_function_name: str | None = None

    @property
    def access_secrets(self) -> tuple[str, ...]:
        return accepted(self.access_secret, self.access_secret_previous)

    @property
    def member_hash_secrets(self) -> tuple[str, ...]:
        """Empty when no member secret is configured: logins need no memberHash (R5.4)."""
        return accepted(self.member_hash_secret, self.member_hash_secret_previous)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        # On AWS (SECRETS_SSM_PATH set) the credentials come from SSM; otherwise from `env` alone.
        env = with_secrets(os.environ if env is None else env)

        def text(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def number(name: str, default: int) -> int:
            raw = text(name)
            return int(raw) if raw is not None else default

        return cls(
            table_name=text("TABLE_NAME") or DEFAULT_TABLE_NAME,
            dynamodb_endpoint_url=text("DYNAMODB_ENDPOINT_URL"),
            region=text("AWS_REGION") or text("AWS_DEFAULT_REGION") or "us-east-1",
            access_key=text("ACCESS_KEY"),
            access_secret=text("ACCESS_SECRET"),
            plugin_key=text("PLUGIN_KEY"),
            member_hash_secret=text("MEMBER_HASH_SECRET"),
            access_secret_previous=text("ACCESS_SECRET_PREVIOUS"),
            member_hash_secret_previous=text("MEMBER_HASH_SECRET_PREVIOUS"),
            session_timeout_seconds=number("SESSION_TIMEOUT_SECONDS", 1800),
            schedule_interval_seconds=number("SCHEDULE_INTERVAL_SECONDS", 60),
            default_phone_region=(text("DEFAULT_PHONE_REGION") or "JP").upper(),
            move_chunk_size=number("MOVE_CHUNK_SIZE", 500),
            move_in_commit_items=max(0, min(number("MOVE_IN_COMMIT_ITEMS", 8), 16)),
            move_cleanup_grace_seconds=number("MOVE_CLEANUP_GRACE_SECONDS", 60),
            max_contact_matches=number("MAX_CONTACT_MATCHES", 5),
            decode_path_params="AWS_LAMBDA_FUNCTION_NAME" not in env,
            allowed_origins=tuple(
                o.strip().rstrip("/").lower() for o in (text("ALLOWED_ORIGINS") or "").split(",") if o.strip()
            ),
            deployed="AWS_LAMBDA_FUNCTION_NAME" in env,
            webhook_function_name=text("WEBHOOK_FUNCTION_NAME"),
            contact_blocklist=tuple(v.strip() for v in (text("CONTACT_BLOCKLIST") or "").split(",") if v.strip()),
        )
