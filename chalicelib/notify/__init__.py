"""SNS change digests."""
