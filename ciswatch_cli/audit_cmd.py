"""``ciswatch audit`` (arrives with the audit issue)."""


def add_audit_parser(sub) -> None:
    return None


def run(args) -> int:
    raise NotImplementedError
