import os

import pytest

from ciswatch_cli.moto_env import MotoAccount, moto_server, reset, use_endpoint


@pytest.fixture(scope="session")
def moto_url():
    saved = dict(os.environ)
    with moto_server() as url:
        use_endpoint(url)
        yield url
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def account(moto_url):
    reset(moto_url)
    return MotoAccount(moto_url)
