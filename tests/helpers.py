"""Helpers for tests: logging in through the real form (with its CSRF token), in the test
client and in a Playwright page."""
from __future__ import annotations

import time
from html.parser import HTMLParser

import pytest

from tests.factories import DEFAULT_PASSWORD


class _CsrfFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.token: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self.token is None and tag == "input" and attrs.get("name") == "csrf_token":
            self.token = attrs.get("value")
        elif self.token is None and tag == "meta" and attrs.get("name") == "csrf-token":
            self.token = attrs.get("content")


def csrf_token(html: str) -> str:
    """The first CSRF token in a page: a ``csrf_token`` hidden input or a ``csrf-token`` meta tag."""
    finder = _CsrfFinder()
    finder.feed(html)
    if not finder.token:
        raise AssertionError("no csrf_token input (or csrf-token meta tag) in the page:\n" + html[:2000])
    return finder.token


def csrf_token_for(client, url: str) -> str:
    """GET ``url`` (following redirects) and return the CSRF token of its form."""
    response = client.get(url, follow_redirects=True)
    assert response.status_code == 200, f"GET {url} answered {response.status_code}"
    return csrf_token(response.get_data(as_text=True))


def post_form(client, url: str, data: dict, *, form_url: str | None = None, **kwargs):
    """POST ``data`` to ``url`` with the CSRF token taken from ``form_url`` (default: ``url``)."""
    token = csrf_token_for(client, form_url or url)
    return client.post(url, data={**data, "csrf_token": token}, **kwargs)


def login(client, username: str, password: str = DEFAULT_PASSWORD, *, expect_success: bool = True):
    """Log in through ``/login`` like a browser: fetch the form, send its CSRF token back.

    With ``expect_success`` (the default) assert that the app redirected away from the
    login page, so a broken login fails here and not three steps later."""
    response = post_form(client, "/login", {"username": username, "password": password})
    if expect_success:
        location = response.headers.get("Location", "")
        assert response.status_code in (302, 303) and "/login" not in location, (
            f"login as {username!r} failed: {response.status_code} {location!r}\n"
            + response.get_data(as_text=True)[:2000]
        )
    return response


def logout(client):
    """Log out with the CSRF token of any signed-in page (the layout carries one)."""
    return post_form(client, "/logout", {}, form_url="/")


def browser_login(page, base_url: str, username: str, password: str = DEFAULT_PASSWORD) -> None:
    """Fill the login form in a Playwright page and wait until it has left /login."""
    page.goto(f"{base_url}/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    page.locator("form:has(input[name=password]) [type=submit]").first.click()
    page.wait_for_url(lambda url: "/login" not in url)


# Whether the service worker finished fetching this user's pages ahead at least once (it notes
# "pages-refreshed:<user id>" in the outbox database when done). Gives up after 3 s per call.
_PAGES_REFRESHED = """() => new Promise((resolve, reject) => {
  setTimeout(() => reject(new Error("IndexedDB did not answer in 3 s")), 3000);
  const owner = (document.querySelector('meta[name="user-id"]') || {}).content;
  if (!owner) { resolve(true); return; }
  const open = indexedDB.open("doorstep");
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const db = open.result;
    if (!db.objectStoreNames.contains("meta")) { db.close(); resolve(false); return; }
    const request = db.transaction("meta").objectStore("meta").get("pages-refreshed:" + owner);
    request.onsuccess = () => { resolve(Boolean(request.result)); db.close(); };
    request.onerror = () => reject(request.error);
  };
})"""


def pages_fetched_ahead(page, timeout_s: float = 30.0) -> None:
    """Wait until the worker's pages are on the phone (the first full fetch-ahead finished).

    "Ready offline" only promises the app shell; the register pages follow in the background.
    A story that goes offline must not race that fetch, or a page it later lands on is missing."""
    from playwright.sync_api import Error as PlaywrightError

    deadline = timeout_s * 1000
    waited = 0
    while waited < deadline:
        try:
            if page.evaluate(_PAGES_REFRESHED):
                return
        except PlaywrightError as error:  # the page navigated meanwhile: ask the next one
            if "context was destroyed" not in str(error):
                raise
        page.wait_for_timeout(200)
        waited += 200
    raise AssertionError("the service worker did not finish fetching the pages ahead")


def wait_until(what, timeout: float, message: str, logs=lambda: ""):
    """Poll ``what()`` every 0.2 s until it returns something true (returned), or fail the test
    after ``timeout`` seconds with ``message`` and whatever ``logs()`` tells."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {message}\n{logs()}")
