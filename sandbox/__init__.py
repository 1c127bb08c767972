"""Test and demo tooling: a moto server on loopback, account scenarios, the demo. Neither installed nor deployed."""
