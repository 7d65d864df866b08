"""The pure core: customer types, unification rules and plans. No I/O here."""
