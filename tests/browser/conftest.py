"""Browser tests: the integration fixtures (emptied database, real relay and worker, tokens) and the browser's."""

from tests.integration.conftest import client, empty_database, token, wait_routed, worker  # noqa: F401
from tests.support.browser import browser, live_server, new_page  # noqa: F401
