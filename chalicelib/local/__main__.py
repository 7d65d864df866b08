"""`make run`: the whole service on one machine.

API on Chalice's local server, DynamoDB embedded (moto's server), the stream
consumer fed from the table's stream, scheduled jobs every
SCHEDULE_INTERVAL_SECONDS.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import Any

from ..config import Settings
from .demo import start_demo
from .replay import write_state
from .stack import LocalStack, local_defaults, prepare


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    generated = local_defaults(dict(os.environ))
    os.environ.update(generated)
    port = int(os.environ.get("PORT", "8000"))

    import app as application  # builds nothing yet: the container reads settings on first use

    from .server import create_server

    # Bind the API's port first, so the embedded DynamoDB can never be handed it.
    try:
        server = create_server(application.app, "127.0.0.1", port)
    except OSError as exc:
        print(f"make run: port {port} is not free ({exc.strerror}); set PORT=<another port>", file=sys.stderr)
        return 1
    # The demo shop next, before the embedded DynamoDB picks a port; a busy one only loses the demo.
    api_base, demo_port = f"http://127.0.0.1:{port}", int(os.environ.get("DEMO_PORT") or port + 1)
    shop = Settings.from_env(os.environ)
    try:
        start_demo("127.0.0.1", demo_port, api_base, shop.plugin_key or "", shop.member_hash_secret)
        demo = f"http://127.0.0.1:{demo_port}/ (another origin, as a shop's page is)"
    except OSError as exc:
        demo = f"not served: port {demo_port} is not free ({exc.strerror}); set DEMO_PORT=<another port>"

    env = dict(os.environ)
    settings, moto_server = prepare(env)
    os.environ["DYNAMODB_ENDPOINT_URL"] = env["DYNAMODB_ENDPOINT_URL"]

    from chalicelib.bootstrap import container, reset

    reset()  # settings as now set
    stack = LocalStack(settings=settings, port=port, moto_server=moto_server)

    def park(record: dict[str, Any], reason: str) -> None:
        sequence = str(record.get("dynamodb", {}).get("SequenceNumber", "?"))
        container().deps.store.record_failure("stream", sequence, record, reason)

    stack.start_workers(
        application.stream_consumer, [application.finish_unifications, application.retry_webhooks], on_give_up=park
    )
    # `make replay-failures` (chalicelib/local/replay.py) finds this stack's DynamoDB here.
    state = write_state(port, settings.dynamodb_endpoint_url or "", settings.table_name)

    print(f"Serving the unification API on {api_base}", flush=True)
    print(f"  Demo shop:     {demo}", flush=True)
    print(f"  DynamoDB:      {settings.dynamodb_endpoint_url} (table {settings.table_name})", flush=True)
    # Only what was generated here is shown: a secret the user set is never written out.
    for name in ("ACCESS_KEY", "ACCESS_SECRET", "PLUGIN_KEY"):
        shown = generated.get(name, "(from the environment)")
        print(f"  {name}={shown}", flush=True)
    print(
        f"  MEMBER_HASH_SECRET={'set' if settings.member_hash_secret else 'unset (logins need no memberHash)'}",
        flush=True,
    )
    print(
        f"  session timeout {settings.session_timeout_seconds}s, schedule every {settings.schedule_interval_seconds}s",
        flush=True,
    )

    def shutdown(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    try:
        server.serve_forever()
    finally:
        stack.stop()
        state.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
