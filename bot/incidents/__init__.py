"""Incidents: lifecycle rules (pure), the incident service, its records and its timers (pages, reminders, deadlines)."""
