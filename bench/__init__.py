"""`make bench`: what each operation costs, measured side by side in one run.

Every figure is a ratio taken in the same run (requests against the data
model's minimum, latencies against a raw DynamoDB call on the same store), so
the speed of the machine cancels out. See `python -m bench --help`.
"""
