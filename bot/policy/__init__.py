"""The safety policy, pure: model, value types, YAML loader with line numbers, check, triage, trends, on-call, backtest;
store.py keeps the policy in force (the only module here that touches the database)."""
