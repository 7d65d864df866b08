"""Use cases: load through the store, decide in the core, commit the plan."""
