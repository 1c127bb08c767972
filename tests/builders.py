"""Snapshot documents built by hand, for the states moto cannot create (the shape a saved --snapshot has)."""


def snapshot_document(account, home, trails, log_groups, alarms, topics, kms=None, partition="aws"):
    return {
        "schema": 1,
        "account": account,
        "partition": partition,
        "regions": [home],
        "regions_error": None,
        "trails": {"region": home, "items": trails, "error": None},
        "log_groups": log_groups,
        "alarms": alarms,
        "topics": topics,
        "kms": {home: {"keys": kms or [], "error": None, "aliases_error": None}},
    }
