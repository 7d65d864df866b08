"""The embedded local stack behind `make run` (moto server, Chalice local, pump, scheduler)."""
