import os

import pytest

from sandbox.moto_env import MotoAccount, moto_server, reset, use_endpoint

from .state_env import env  # noqa: F401  (a fixture shared by the state tests)

MOTO_FIXTURES = {"moto_url", "account"}


def pytest_collection_modifyitems(items):
    """Every test that talks to a moto server is marked ``moto``: ``pytest -m "not moto"`` is the fast loop."""
    for item in items:
        if MOTO_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.moto)


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


WORKER_TIMEOUT_MS = 900_000  # the worker's lambda_timeout in .chalice/config.json


@pytest.fixture(autouse=True)
def lambda_context_with_the_configured_timeout(monkeypatch):
    """Chalice's test client gives every invocation a 3 s context whatever the function's timeout; the
    worker budgets its reads from the remaining time, so give it the deployed timeout."""
    import functools

    import chalice.test

    monkeypatch.setattr(
        chalice.test,
        "LambdaContext",
        functools.partial(chalice.test.LambdaContext, max_runtime_ms=WORKER_TIMEOUT_MS),
    )
