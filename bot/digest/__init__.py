"""Leadership digests: compose (pure), render (md/html), charts, schedule, and the digest service."""
