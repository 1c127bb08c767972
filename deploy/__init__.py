"""Build-time tooling for the deployment (neither installed nor deployed): the IAM policies' one source."""
