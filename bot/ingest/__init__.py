"""Eval ingestion: the ingest service, webhook signing, and one module per source format."""
