"""The Slack adapter: Block Kit builders, mrkdwn text, the outbox worker and its kind-to-call table, ids, manifest."""
