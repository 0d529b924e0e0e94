import os

import pytest

pytest_plugins = ["tests.redis_fixtures"]


@pytest.fixture(autouse=True, scope="session")
def _private_user_directories(tmp_path_factory):
    """The scanner keeps its pins and data in the user's XDG folders: a test run uses its own, never the home's."""
    home = tmp_path_factory.mktemp("home")
    saved = {k: os.environ.get(k) for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME")}
    os.environ["XDG_CONFIG_HOME"], os.environ["XDG_DATA_HOME"] = str(home / "config"), str(home / "data")
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
