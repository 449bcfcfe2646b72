"""
The built documentation site, opened as a reader would: headless Chromium
(Debian's ``chromium`` and ``chromium-driver``, driven by selenium) loads the
site from a local HTTP server, and

- the index, a gallery page and an API page render: a title, a heading, the
  page's own content, and every image on them loaded (``naturalWidth > 0``;
  the gallery page has the figures its example wrote);
- a crawl from the index over every internal link reaches no missing page or
  file (the server answers 404 for none) and no missing anchor, and every
  image on every page it reaches is loaded;
- every function and class in the ``__all__`` of each public module has its
  entry on that module's API page, and every other name of ``__all__`` is
  named there (read from the HTML, no browser needed).

The site is built by ``python -m sphinx -W -b html docs docs/_build/html``
(docs/development.md; ``.ci/run docs``). The tests skip, saying why, where the
built site, Chromium or selenium is absent (``IPVAE_SNN_REQUIRE_DOCS_SITE=1``,
as ``.ci/run docs`` sets it, makes that a failure); ``$IPVAE_SNN_DOCS_HTML``
names another built site.
"""

import functools
import http.server
import importlib
import os
import re
import shutil
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SITE = os.environ.get("IPVAE_SNN_DOCS_HTML",
                      os.path.join(ROOT, "docs", "_build", "html"))
#: The pages checked one by one: the index, one gallery page, one API page.
PAGES = {
    "index.html": {"heading": "ipvae-snn", "min_images": 0},
    "gallery/natural_images.html": {"heading": "Inference on natural-image patches",
                                    "min_images": 7},
    "generated/ipvae_snn.network.html": {"heading": "ipvae_snn.network",
                                         "min_images": 0},
}

REQUIRED = os.environ.get("IPVAE_SNN_REQUIRE_DOCS_SITE") == "1"


def _skip(reason):
    if REQUIRED:
        pytest.fail(f"{reason} (IPVAE_SNN_REQUIRE_DOCS_SITE=1)")
    pytest.skip(reason)


@pytest.fixture
def built_site():
    if not os.path.isfile(os.path.join(SITE, "index.html")):
        _skip(f"no built documentation site at {SITE} (build it with "
              f"python -m sphinx -W -b html docs docs/_build/html)")
    return SITE


def _chromium():
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    return None


class _Server:
    """The site over HTTP on 127.0.0.1, recording every path it could not serve."""

    def __init__(self, folder):
        self.missing = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def send_error(self, code, message=None, explain=None):
                # the browser asks for /favicon.ico by itself: not a link
                if code == 404 and self.path != "/favicon.ico":
                    server.missing.append(self.path)
                super().send_error(code, message, explain)

            def log_message(self, *args):
                pass

        handler = functools.partial(Handler, directory=folder)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def site():
    if not os.path.isfile(os.path.join(SITE, "index.html")):
        _skip(f"no built documentation site at {SITE} (build it with "
              f"python -m sphinx -W -b html docs docs/_build/html)")
    with _Server(SITE) as server:
        yield server


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium = _chromium()
    if chromium is None:
        _skip("no chromium on PATH (Debian: apt-get install chromium chromium-driver)")
    driver_path = shutil.which("chromedriver")
    if driver_path is None:
        _skip("no chromedriver on PATH (Debian: apt-get install chromium-driver)")
    try:
        from selenium import webdriver
    except ImportError:
        _skip("selenium is not installed (pip install -e '.[docs]')")
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 "--window-size=1280,1024",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


#: JavaScript: the page's images as [src, complete, naturalWidth].
_IMAGES = ("return Array.from(document.images).map("
           "i => [i.currentSrc || i.src, i.complete, i.naturalWidth]);")
#: JavaScript: every link of the page, resolved by the browser.
_LINKS = "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href);"


def _open(browser, url):
    browser.get(url)
    # images are loaded once the load event has fired (readyState complete)
    browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "if (document.readyState === 'complete') done();"
        "else window.addEventListener('load', () => done());")


def _broken_images(browser):
    return [src for src, complete, width in browser.execute_script(_IMAGES)
            if not complete or width == 0]


@pytest.mark.slow
@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_renders_with_its_images(page, site, browser):
    expected = PAGES[page]
    _open(browser, site.base + page)
    assert browser.title.strip(), f"{page}: empty title"
    # the page's own heading (the theme's sidebar has one of its own)
    headings = browser.execute_script(
        "return Array.from(document.querySelectorAll('h1')).map(h => h.textContent);")
    assert any(expected["heading"] in h for h in headings), (page, headings)
    body = browser.execute_script(
        "return document.querySelector('div.body, main, body').innerText;")
    assert len(body) > 500, f"{page}: almost no text ({len(body)} characters)"
    images = browser.execute_script(_IMAGES)
    assert len(images) >= expected["min_images"], (page, images)
    assert _broken_images(browser) == [], page
    assert site.missing == [], site.missing


def _internal(url, base):
    return url.startswith(base)


@pytest.mark.slow
def test_no_broken_internal_link(site, browser):
    """Crawl from the index over every internal link: pages, files and anchors."""
    base = site.base
    pages, queue, files = set(), [base + "index.html"], set()
    anchors = {}                    # page URL -> ids on it
    wanted = []                     # (from page, page URL, fragment)
    broken_images = {}
    while queue:
        url = queue.pop()
        if url in pages:
            continue
        pages.add(url)
        _open(browser, url)
        anchors[url] = set(browser.execute_script(
            "return Array.from(document.querySelectorAll('[id], a[name]'))"
            ".map(e => e.id || e.name);"))
        bad = _broken_images(browser)
        if bad:
            broken_images[url] = bad
        for link in browser.execute_script(_LINKS):
            if not _internal(link, base):
                continue
            target, _, fragment = link.partition("#")
            path = urllib.parse.urlparse(target).path
            if target.endswith("/") or path.endswith(".html"):
                if target.endswith("/"):
                    target += "index.html"
                if fragment:
                    wanted.append((url, target, urllib.parse.unquote(fragment)))
                if target not in pages:
                    queue.append(target)
            else:
                files.add(target)
    for target in sorted(files):
        try:
            with urllib.request.urlopen(target, timeout=30) as response:
                assert response.status == 200, target
        except urllib.error.HTTPError:
            pass                    # recorded by the server
    assert len(pages) > 20, f"the crawl reached only {len(pages)} pages"
    assert site.missing == [], f"broken internal links: {sorted(set(site.missing))}"
    missing_anchors = sorted({(target, fragment) for _, target, fragment in wanted
                              if target in anchors and fragment not in anchors[target]})
    assert missing_anchors == [], missing_anchors
    assert broken_images == {}, broken_images


def test_api_pages_document_every_public_name(built_site):
    sys.path.insert(0, os.path.join(ROOT, "docs", "_ext"))
    try:
        import ipvae_docs
    finally:
        sys.path.remove(os.path.join(ROOT, "docs", "_ext"))
    modules = ipvae_docs.public_modules()
    assert "ipvae_snn.network" in modules and "ipvae_snn.stats" in modules
    pages, documented = {}, set()
    for mod_name in modules:
        path = os.path.join(built_site, "generated", f"{mod_name}.html")
        assert os.path.isfile(path), f"no API page for {mod_name}"
        with open(path, encoding="utf-8") as f:
            pages[mod_name] = f.read()
        documented |= set(re.findall(r'id="([^"]+)"', pages[mod_name]))
    for mod_name, html in pages.items():
        module = importlib.import_module(mod_name)
        for name in getattr(module, "__all__", []):
            if name.startswith("__"):           # __version__: the page's title says it
                continue
            obj = getattr(module, name)
            # its own entry on this page or (a name re-exported or imported
            # lazily, ipvae_snn.SpikingIPVAE) on the page of a public module
            # that has the same object
            here = f"{mod_name}.{name}" in documented
            elsewhere = any(f"{other}.{name}" in documented for other in pages
                            if getattr(importlib.import_module(other), name, None)
                            is obj)
            # a constant without a comment of its own is at least named
            named = not callable(obj) and name in html
            assert here or elsewhere or named, (mod_name, name)
