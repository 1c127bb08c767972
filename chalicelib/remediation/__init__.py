"""Remediation: the plan (pure) and its CloudFormation rendering."""
