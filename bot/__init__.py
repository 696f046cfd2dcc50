"""Tripwire: a Slack bot for AI-safety incidents, held against a written safety policy."""
