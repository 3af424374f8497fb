"""Browser tests: under the integration fixtures (emptied database, real relay and worker, tokens), so that one
session has one relay and one worker; the browser (tests/conftest.py) and the live server are the browser's."""

from tests.support.browser import live_server, new_page  # noqa: F401
