"""Re-record the golden corpus's outputs from its inputs with the current code, after a change of behaviour
made on purpose. Prints what changed (by field path, counted), so the change can be reviewed; writes
only with --write.

    .venv/bin/python tests/data/golden/rerecord.py            # review
    .venv/bin/python tests/data/golden/rerecord.py --write    # then record
"""

from __future__ import annotations

import gzip
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from chalicelib.checks import run_checks  # noqa: E402
from chalicelib.model import AccountSnapshot  # noqa: E402
from chalicelib.pipeline import judge_snapshot  # noqa: E402
from chalicelib.remediation.plan import make_plan  # noqa: E402
from chalicelib.remediation.template import to_cloudformation  # noqa: E402
from ciswatch_cli.remediate_cmd import render  # noqa: E402

CORPUS = Path(__file__).parent / "before-model.jsonl.gz"


def _findings(findings):
    return json.loads(json.dumps([dict(f.to_dict(), account=f.account) for f in findings], default=str))


def outputs(rec: dict) -> dict:
    snapshot = AccountSnapshot.from_json(rec["snapshot"])
    if rec["kind"] == "audit":
        result = judge_snapshot(snapshot, rec["benchmark"], duration_s=rec["duration_s"])
        return {"audit": json.loads(json.dumps(result.to_json(), default=str))}
    if rec["kind"] == "checks":
        return {"findings": _findings(run_checks(snapshot, rec["benchmark"]))}
    args = rec["args"]
    findings = run_checks(snapshot, args["benchmark"])
    plan = make_plan(snapshot, findings, **args)
    return {
        "findings": _findings(findings),
        "plan": json.loads(json.dumps(plan.to_dict())),
        "after": _findings(plan.after),
        "cfn": to_cloudformation(plan),
        "text": render(plan, "text"),
    }


def differences(old, new, path="", out=None):
    out = out if out is not None else []
    if isinstance(old, dict) and isinstance(new, dict):
        for k in old.keys() | new.keys():
            differences(old.get(k, "<absent>"), new.get(k, "<absent>"), f"{path}.{k}", out)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for a, b in zip(old, new, strict=True):
            differences(a, b, f"{path}[]", out)
    elif old != new:
        out.append(path)
    return out


def main() -> int:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    changed = Counter()
    for rec in records:
        new = outputs(rec)
        for key, value in new.items():
            changed.update(set(differences(rec[key], value, key)))
            rec[key] = value
    for path, count in changed.most_common():
        print(f"{count:5d}  {path}")
    if "--write" in sys.argv:
        with gzip.open(CORPUS, "wt", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec) + "\n")
        print(f"recorded {len(records)} records")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
