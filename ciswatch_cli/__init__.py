"""The ciswatch command line (not deployed with the Lambda)."""
