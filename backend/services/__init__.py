"""The rules. Services take explicit arguments (including ``now``), raise domain
errors, flush but never commit: the request handler or CLI command commits."""
