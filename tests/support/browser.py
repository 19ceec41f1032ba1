"""Headless Debian Chromium driven by selenium, for the browser tests.

The browser and its driver are Debian's (``apt-get install chromium chromium-driver``;
``scripts/test`` does it); giving selenium both paths keeps Selenium Manager from
downloading anything. Every wait is a condition polled until a timeout.
"""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WINDOW_SIZE = (1280, 1000)
DEFAULT_TIMEOUT = 15

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # Two windows share one browser; the one not in front must keep its timers and sockets.
    "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    "--window-size={},{}".format(*WINDOW_SIZE),
]


class Chromium:
    """One headless Chromium; :meth:`open` gives each page its own window."""

    def __init__(self, user_data_dir: Path):
        for path in (CHROMIUM, CHROMEDRIVER):
            if not os.access(path, os.X_OK):
                raise RuntimeError(f"{path} is missing: apt-get install chromium chromium-driver "
                                   f"(bash scripts/test installs them)")
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS + [f"--user-data-dir={user_data_dir}"]:
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self._first_window_used = False

    def open(self, url: str) -> "Window":
        if self._first_window_used:
            self.driver.switch_to.new_window("window")
            self.driver.set_window_size(*WINDOW_SIZE)
        self._first_window_used = True
        window = Window(self.driver, self.driver.current_window_handle)
        self.driver.get(url)
        return window

    def quit(self) -> None:
        self.driver.quit()


class Window:
    """A browser window; every call brings it to the front first."""

    def __init__(self, driver, handle: str):
        self.driver = driver
        self.handle = handle

    def focus(self) -> "Window":
        if self.driver.current_window_handle != self.handle:
            self.driver.switch_to.window(self.handle)
        return self

    def js(self, script: str, *args):
        return self.focus().driver.execute_script(script, *args)

    def text(self, css: str) -> str:
        return self.js("var e = document.querySelector(arguments[0]); return e ? e.textContent : null;", css)

    def texts(self, css: str) -> list[str]:
        return self.js("return Array.from(document.querySelectorAll(arguments[0]), e => e.textContent);", css)

    def fill(self, css: str, value: str) -> "Window":
        from selenium.webdriver.common.by import By

        field = self.focus().driver.find_element(By.CSS_SELECTOR, css)
        field.clear()
        if value:
            field.send_keys(value)
        return self

    def click(self, css: str) -> "Window":
        from selenium.webdriver.common.by import By

        self.focus().driver.find_element(By.CSS_SELECTOR, css).click()
        return self

    def wait(self, condition, message: str, timeout: float = DEFAULT_TIMEOUT):
        """Poll ``condition(window)`` until it returns something truthy; return that."""
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        self.focus()
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(
                lambda driver: condition(self))
        except TimeoutException:
            raise AssertionError(f"{message} (waited {timeout}s); page says:\n"
                                 f"{self.js('return document.body.innerText;')}") from None

    def wait_text(self, css: str, expected: str, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
        """Wait until an element matching ``css`` has ``expected`` in its text; all their texts."""
        return self.wait(lambda w: (lambda found: found if any(expected in t for t in found) else None)(
            w.texts(css)), f"no {css} containing {expected!r}", timeout)

    def resources(self) -> list[str]:
        """Every URL the page has loaded (scripts, styles, XHR, WebSocket excluded)."""
        return self.js("return [location.href].concat("
                       "performance.getEntriesByType('resource').map(e => e.name));")

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.focus().driver.save_screenshot(str(path))
        return path
