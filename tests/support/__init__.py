"""Test helpers that build real inputs: Inspect AI logs, lm-eval results files and Alertmanager webhooks."""
