"""The built book, opened in a real headless Chromium: every page loads without a console error or a
missing image, MathJax has typeset every formula (no raw ``$...$`` left), no widget control is left
dead on a static page (each is replaced by its figure and a note), the search page finds a
known term, every internal link resolves (page and anchor), and screenshots of a few pages are written
to ``_build/screenshots/``.

Runs after ``make book`` (``make browser-test``; ``.ci/run`` installs Debian's ``chromium`` and
``chromium-driver`` when they are missing). The book is looked for in ``$POSEBOOK_BOOK_HTML`` or
``_build/html``; without a built book, or without Chromium and its driver, the tests skip and say why,
except when ``POSEBOOK_BOOK_HTML`` is set: then a missing book is an error.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("POSEBOOK_BOOK_HTML", ROOT / "_build" / "html"))
SCREENSHOTS = ROOT / "_build" / "screenshots"
#: pages photographed: the front page, the scorecard, two notebooks (with widget figures), an API page
SCREENSHOT_PAGES = ("book/intro.html", "reproduction/scorecard.html", "notebooks/prom/theory.html",
                    "notebooks/geometry/geometry.html", "book/api/geometry.html")
#: a term the search must find, and a page it must find it on
SEARCH_TERM, SEARCH_HIT = "Procrustes", "geometry"

if not (HTML / "index.html").is_file():
    if "POSEBOOK_BOOK_HTML" in os.environ:
        raise FileNotFoundError(f"POSEBOOK_BOOK_HTML={HTML} holds no built book (no index.html): run `make book`")
    pytest.skip(f"no built book at {HTML} (run `make book`, then `make browser-test`)", allow_module_level=True)

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[dev])")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    pytest.skip("Chromium or ChromeDriver not found (Debian: apt-get install chromium chromium-driver; "
                ".ci/run installs them)", allow_module_level=True)


def _pages() -> list[str]:
    """Every HTML page of the book (Sphinx's own search, index and module index included)."""
    return sorted(p.relative_to(HTML).as_posix() for p in HTML.rglob("*.html")
                  if "_static" not in p.parts and "_sources" not in p.parts)


PAGES = _pages()


@pytest.fixture(scope="module")
def server():
    """The book over HTTP on localhost (the search index and MathJax load by XHR, which file:// blocks)."""
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output readable
        pass


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


_WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
const settle = () => (window.MathJax && MathJax.startup && MathJax.startup.promise
                      ? MathJax.startup.promise.then(() => done(true), () => done(false)) : done(null));
if (document.readyState === "complete") { settle(); } else { window.addEventListener("load", settle); }
"""

_INSPECT = """
const broken = Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src);
const widgets = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"], .jupyter-widgets, .widget-slider').length;
const fallbacks = Array.from(document.querySelectorAll(".posebook-static-widget")).map(d => d.querySelectorAll("img").length);
const untypeset = Array.from(document.querySelectorAll(".math")).filter(m => !m.querySelector("mjx-container")).length;
const article = document.querySelector("article") || document.body;
const copy = article.cloneNode(true);
copy.querySelectorAll("pre, code, script, style, .highlight, mjx-container, .output").forEach(e => e.remove());
return {broken: broken, untypeset: untypeset, text: copy.innerText, widgets: widgets, fallbacks: fallbacks};
"""

# $x$ or $$...$$ left as text: a dollar, a non-space, anything but a dollar, a non-space, a dollar
_RAW_MATH = re.compile(r"\$\$?[^\s$](?:[^$]*[^\s$])?\$\$?")


def _console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


@pytest.mark.parametrize("page", PAGES)
def test_page_loads_cleanly_and_typesets_its_math(browser, server, page):
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(urljoin(server, page))
    browser.set_script_timeout(60)
    assert browser.execute_async_script(_WAIT_FOR_MATHJAX) is not False, f"{page}: MathJax failed to start"
    found = browser.execute_script(_INSPECT)
    assert not found["broken"], f"{page}: images that did not load: {found['broken']}"
    assert found["untypeset"] == 0, f"{page}: {found['untypeset']} formula(s) MathJax did not typeset"
    assert found["widgets"] == 0, f"{page}: {found['widgets']} widget control(s) left on the static page (dead)"
    assert all(n > 0 for n in found["fallbacks"]), f"{page}: a widget replaced without its figure: {found['fallbacks']}"
    raw = _RAW_MATH.findall(found["text"])
    assert not raw, f"{page}: formulas left as raw text (dollarmath did not parse them): {raw[:5]}"
    errors = _console_errors(browser)
    assert not errors, f"{page}: console errors: {errors}"


def test_search_finds_a_known_term(browser, server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(urljoin(server, f"search.html?q={SEARCH_TERM}"))
    WebDriverWait(browser, 60).until(EC.presence_of_element_located((By.CSS_SELECTOR, "#search-results ul.search li")))
    hits = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#search-results ul.search li a")]
    assert any(SEARCH_HIT in h for h in hits), f"searching {SEARCH_TERM!r} found {hits[:10]}, none on a {SEARCH_HIT} page"


@functools.lru_cache(maxsize=None)
def _ids(page: str) -> frozenset[str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((HTML / page).read_text(errors="replace"), "html.parser")
    return frozenset(tag["id"] for tag in soup.find_all(id=True)) | frozenset(
        tag["name"] for tag in soup.find_all("a", attrs={"name": True}))


def test_every_internal_link_resolves():
    from bs4 import BeautifulSoup

    broken = []
    for page in PAGES:
        soup = BeautifulSoup((HTML / page).read_text(errors="replace"), "html.parser")
        for tag in soup.find_all(["a", "link", "script", "img"]):
            ref = tag.get("href") or tag.get("src")
            if not ref or urlparse(ref).scheme or ref.startswith(("//", "mailto:", "data:", "javascript:")):
                continue
            target = urlparse(urljoin(f"http://book/{page}", ref))
            path = unquote(target.path).lstrip("/") or "index.html"
            if path.endswith("/"):
                path += "index.html"
            if not (HTML / path).is_file():
                broken.append(f"{page}: {ref} (no file {path})")
            elif target.fragment and path.endswith(".html") and unquote(target.fragment) not in _ids(path):
                broken.append(f"{page}: {ref} (no anchor #{target.fragment} in {path})")
    assert not broken, f"{len(broken)} broken links, e.g. {broken[:10]}"


def test_screenshots_of_a_few_pages(browser, server):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for page in SCREENSHOT_PAGES:
        assert (HTML / page).is_file(), f"{page} is not in the built book"
        browser.get(urljoin(server, page))
        browser.execute_async_script(_WAIT_FOR_MATHJAX)
        path = SCREENSHOTS / (page.replace("/", "_").removesuffix(".html") + ".png")
        assert browser.save_screenshot(str(path)), f"could not write {path}"
        assert path.stat().st_size > 10_000, f"{path} is suspiciously small: a blank page?"
