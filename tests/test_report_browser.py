"""The HTML report as a browser shows it: headless Debian Chromium, driven by Selenium, renders every table and image."""

import shutil
import tempfile
from pathlib import Path

import pytest

from aerec.report import write_report
from tests.test_report import make_run

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--disable-component-update", "--disable-sync", "--disable-quic", "--window-size=1400,1000")  # fmt: skip

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
    reason="needs Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver): apt-get install -y chromium chromium-driver",
)


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install -e '.[test]')")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="aerec-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_every_table_has_rows_and_every_image_renders(tmp_path, browser):
    from selenium.webdriver.common.by import By

    index = write_report(make_run(tmp_path))
    browser.get(index.as_uri())
    assert browser.title.startswith("aerec report")
    tables = browser.find_elements(By.TAG_NAME, "table")
    assert len(tables) >= 4, "a leaderboard, two sweeps and the paper's tables"
    for table in tables:
        assert table.find_elements(By.CSS_SELECTOR, "tbody tr"), table.get_attribute("outerHTML")[:200]
    images = browser.find_elements(By.TAG_NAME, "img")
    assert len(images) == 4, "a bar chart, a cold-start plot and two sweep plots"
    for img in images:
        ok = browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0 && arguments[0].naturalHeight > 0", img)
        assert ok, f"{img.get_attribute('src')} did not render"
    assert "fc-reg" in browser.find_element(By.TAG_NAME, "body").text
