"""Tripwire: a Slack bot for AI-safety incidents."""
