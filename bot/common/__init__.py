"""Shared kernel: the clock, domain errors, the one vocabulary (statuses, severities, actions, levels), Slack limits."""
