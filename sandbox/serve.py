"""`make sandbox`: the demo's account on a moto server of its own, to explore with the CLI afterwards.

Starts moto on 127.0.0.1, seeds the origin-story account (and the state table), prints the endpoint and
commands to try, and serves until interrupted (or for --seconds N).
"""

from __future__ import annotations

import argparse
import time

from chalicelib.state.table import create_table

from .moto_env import MotoAccount, moto_server, use_endpoint
from .scenarios import HOME, story_account

TABLE = "ciswatch-findings"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.serve")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: until Ctrl-C)")
    args = parser.parse_args(argv)
    with moto_server(quiet=True) as url:
        use_endpoint(url)
        account = MotoAccount(url)
        story_account(account)
        create_table(account.client("dynamodb", HOME), TABLE)
        print(f"moto server with the demo account (123456789012): {url}", flush=True)
        print(
            "\nIn another shell:\n"
            f"  export AWS_ENDPOINT_URL={url} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION={HOME}\n"
            f"  .venv/bin/ciswatch audit --regions {HOME},eu-west-1\n"
            f"  .venv/bin/ciswatch audit --regions {HOME},eu-west-1 --table {TABLE}\n"
            f"  .venv/bin/ciswatch findings --table {TABLE} --status FAIL\n"
            f"  .venv/bin/ciswatch remediate --regions {HOME},eu-west-1\n"
            "Stop with Ctrl-C.",
            flush=True,
        )
        try:
            if args.seconds is None:
                while True:
                    time.sleep(3600)
            time.sleep(args.seconds)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
