"""HTTP boundary: request schemas, auth, response shapes, error mapping."""
