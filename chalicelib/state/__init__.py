"""Findings state in one DynamoDB table: current findings, run summaries, transitions (the outbox)."""
