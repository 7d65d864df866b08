"""A plain BatchWriteItem of given items from a process of its own (figure 4's yardstick),
so that it talks to the embedded DynamoDB the way the import process does.

`python -m bench.raw_child ITEMS.json TABLE` prints the seconds the writes took.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    items_path, table = argv
    from chalicelib.bootstrap import dynamodb_client
    from chalicelib.config import Settings

    client = dynamodb_client(Settings.from_env())
    items = json.loads(Path(items_path).read_text())
    client.describe_table(TableName=table)  # connect before the clock starts
    started = time.perf_counter()
    for start in range(0, len(items), 25):
        pending: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    print(json.dumps({"seconds": time.perf_counter() - started, "items": len(items)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
