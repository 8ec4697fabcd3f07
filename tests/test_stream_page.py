"""The live view of the web page in a real browser (headless chromium): ``soundsort serve`` follows a stream URL
and the page draws its segments as they come; the microphone button streams chromium's fake microphone."""

from __future__ import annotations

import functools
import shutil
import signal
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundsort.examples import synth_music, synth_noise
from tests.serving import start_serve

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def serve():
    proc, url = start_serve("--workers", "1")
    try:
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("station")
    y = np.concatenate([synth_noise(7.0, 16000, seed=31), synth_music(9.0, 16000, seed=32)])
    sf.write(folder / "show.wav", y, 16000, subtype="PCM_16")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/show.wav"
    server.shutdown()
    server.server_close()


@pytest.fixture
def browser():
    if CHROMIUM is None:
        pytest.skip("browser test: no chromium on this machine (scripts/setup.sh installs it)")
    assert DRIVER is not None, "chromium is installed but chromedriver is not: apt-get install chromium-driver"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1200,1400", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                "--autoplay-policy=no-user-gesture-required"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver, condition, timeout: float = 60.0):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: condition(d))


def test_live_view_follows_a_url_and_the_microphone(serve, station, browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get(serve)
    browser.find_element(By.ID, "genre").click()  # genre off: quicker
    browser.find_element(By.ID, "live-url").send_keys(station)
    browser.find_element(By.ID, "live-follow").click()
    wait(browser, lambda d: "ended at" in d.find_element(By.ID, "live-status").text)
    rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in browser.find_elements(By.CSS_SELECTOR, "#live-segments tbody tr")]
    assert [r[2] for r in rows][::-1] == ["non-music", "music"]  # newest first
    assert rows[0][1] == "0:16" and rows[-1][0] == "0:00"
    drawn = browser.find_elements(By.CSS_SELECTOR, "#live-timeline rect")
    assert sorted(r.get_attribute("class") for r in drawn) == ["music", "non-music"]
    assert "the source ended (a file of 16.0 s, all read)" in browser.find_element(By.ID, "live-status").text
    # the fake microphone (a beep every second): the page streams it and a segment starts within seconds
    browser.find_element(By.ID, "live-mic").click()
    wait(browser, lambda d: d.find_element(By.ID, "live-now").text.startswith("now: "), 60)
    assert "following microphone" in browser.find_element(By.ID, "live-status").text or \
        browser.find_element(By.ID, "live-status").text == "listening to the microphone"
    browser.find_element(By.ID, "live-stop").click()
    wait(browser, lambda d: "ended at" in d.find_element(By.ID, "live-status").text)
    assert browser.find_elements(By.CSS_SELECTOR, "#live-segments tbody tr")
    browser.save_screenshot(str(tmp_path / "live.png"))
