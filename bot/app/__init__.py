"""The composition root: settings, wiring, the ASGI app, the CLI, scheduler jobs and `tripwire dev`."""
