"""``soundsort serve`` as a user runs it: a real server process on a loopback port, driven by a real browser
(Debian's headless chromium through Selenium and chromium-driver; nothing downloaded) and by raw sockets
(a slow client, a stalled one, a burst of bad uploads).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from soundsort.examples import make_mixed_recording  # noqa: E402
from tests.serving import start_serve  # noqa: E402

READ_TIMEOUT = 3.0  # seconds the server waits for a silent uploading client (--read-timeout)


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out + [g for c in out for g in _children(c)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """``soundsort serve --port 0 --workers 1``: its address, once it says it is ready."""
    proc, url = start_serve("--workers", "1", "--read-timeout", str(READ_TIMEOUT), "--max-upload", "5MB")
    try:
        yield url, proc
    finally:
        workers = _children(proc.pid)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError("soundsort serve did not stop on Ctrl-C")
        time.sleep(0.5)
        left = [p for p in workers if Path(f"/proc/{p}").exists()
                and "Z" not in Path(f"/proc/{p}/stat").read_text().split(")")[-1][:3]]
        assert not left, f"worker processes left behind: {left}"


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    path = tmp_path_factory.mktemp("live") / "speech-then-music.wav"
    return path, make_mixed_recording(path, [("speech", 8.0), ("music", 12.0)])


def _raw_request(url: str, body: bytes, headers: dict[str, str]) -> socket.socket:
    m = re.match(r"http://([^:/]+):(\d+)/", url)
    sock = socket.create_connection((m.group(1), int(m.group(2))), timeout=60)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock.sendall(f"POST /v1/classify HTTP/1.1\r\nHost: {m.group(1)}\r\n{head}\r\n".encode())
    return sock


def _read_response(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        m = re.search(rb"content-length: (\d+)", head, re.I)
        if m and len(rest) >= int(m.group(1)):
            break
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(rest)


def test_slow_client_is_served_and_does_not_hold_up_others(server, recording) -> None:
    url, _ = server
    body = recording[0].read_bytes()
    sock = _raw_request(url, body, {"Content-Length": str(len(body)), "X-Filename": "slow.wav"})
    pieces = 8
    step = len(body) // pieces + 1
    # a server that waited on the slow upload could not answer here before it is complete (this test would
    # block until the timeout); the bound on the time leaves room for a busy CI machine
    with httpx.Client(timeout=30) as client:
        for i in range(pieces):
            sock.sendall(body[i * step: (i + 1) * step])
            t = time.monotonic()
            assert client.get(url + "healthz").status_code == 200
            assert time.monotonic() - t < 5.0
            time.sleep(READ_TIMEOUT / 6)
    status, record = _read_response(sock)
    sock.close()
    assert status == 200 and record["path"] == "slow.wav" and record["status"] == "ok"
    assert [s["label"] for s in record["timeline"]] == ["non-music", "music"]


def test_stalled_client_gets_408(server, recording) -> None:
    url, _ = server
    body = recording[0].read_bytes()
    sock = _raw_request(url, body, {"Content-Length": str(len(body))})
    sock.sendall(body[: len(body) // 3])
    t = time.monotonic()
    status, answer = _read_response(sock)  # nothing more is sent
    sock.close()
    assert status == 408 and "stalled" in answer["error"]
    assert READ_TIMEOUT - 0.5 < time.monotonic() - t < READ_TIMEOUT + 5


def test_still_serving_after_a_burst_of_bad_uploads(server, recording) -> None:
    url, _ = server
    good = recording[0].read_bytes()
    bad = [b"", b"not audio at all\n" * 50, b"\x89PNG\r\n\x1a\n" + bytes(500), good[: len(good) // 3],
           b"RIFF\x00\x00\x00\x00WAVE" + os.urandom(300)]
    with httpx.Client(timeout=60) as client:
        codes = [client.post(url + "v1/classify", content=bad[i % len(bad)],
                             headers={"X-Filename": f"bad{i}.wav"}).status_code for i in range(30)]
        assert set(codes) <= {415, 422} and 415 in codes and 422 in codes
        over = client.post(url + "v1/classify", content=bytes(6_000_000))
        assert over.status_code == 413
        resp = client.post(url + "v1/classify", content=good, headers={"X-Filename": "good.wav"})
        assert resp.status_code == 200 and resp.json()["status"] == "ok"
        metrics = client.get(url + "metrics").text
        assert re.search(r'soundsort_request_errors_total\{code="415"\} \d+', metrics)


# ------------------------------------------------------------------------------------------ the browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser():
    if CHROMIUM is None:
        pytest.skip("browser test: no chromium on this machine (apt-get install chromium chromium-driver; "
                    "scripts/setup.sh does)")
    # with chromium there, a missing driver or Selenium is a broken setup, not a reason to skip
    assert DRIVER is not None, "chromium is installed but chromedriver is not: apt-get install chromium-driver"
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        raise AssertionError(f"chromium is installed but Selenium is not ({exc}): pip install -e '.[serve]'")

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,1000",
                "--disable-extensions", "--no-first-run"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _wait_for(driver, css: str, timeout: float = 120.0):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def test_page_in_a_real_browser(server, recording, browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    url, _ = server
    path, truth = recording
    browser.get(url)
    assert browser.title == "soundsort"
    # keyboard: Tab reaches the file chooser
    from selenium.webdriver.common.action_chains import ActionChains

    for _ in range(10):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        if browser.switch_to.active_element.get_attribute("id") == "choose":
            break
    else:
        raise AssertionError("the 'Choose files' control is not reachable with Tab")

    browser.find_element(By.ID, "files").send_keys(str(path))
    item = _wait_for(browser, "li.file[data-state=done]")
    rects = item.find_elements(By.CSS_SELECTOR, "svg.timeline rect.segment")
    drawn = [(r.get_attribute("data-label"), float(r.get_attribute("x")), float(r.get_attribute("width")))
             for r in rects]
    assert [d[0] for d in drawn] == ["non-music", "music"]
    boundary = truth[1]["start"] / truth[1]["end"] * 1000  # the speech → music change, in the drawing's units
    assert abs(drawn[1][1] - boundary) < 50  # within 1 s of the truth on a 20 s file
    assert abs(drawn[0][2] + drawn[1][2] - 1000) < 1  # the timeline covers the whole width
    envelope = item.find_element(By.CSS_SELECTOR, "svg.timeline path.envelope").get_attribute("d")
    assert envelope.count("L") > 400  # the loudness envelope decoded in the browser and drawn
    rows = item.find_elements(By.CSS_SELECTOR, ".segments-table tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[2].text for r in rows] == ["non-music", "music"]

    # the genre text is the server's genre for the file, read back through the page's own download link
    link = item.find_element(By.CSS_SELECTOR, "a.json").get_attribute("href")
    record = httpx.get(link, timeout=30).json()[0]
    names = [e.text for e in item.find_elements(By.CSS_SELECTOR, ".genre .genre-label")]
    pcts = [e.text for e in item.find_elements(By.CSS_SELECTOR, ".genre .genre-pct")]
    assert names == [g["label"] for g in record["genre"]] and len(names) == 3
    assert pcts == [f"{round(100 * g['probability'])}%" for g in record["genre"]]
    assert "Genre (music parts)" in item.text and f"{round(100 * record['music_share'])}% music" in item.text
    csv_link = item.find_element(By.CSS_SELECTOR, "a.csv").get_attribute("href")
    assert httpx.get(csv_link, timeout=30).text.startswith("path,status,duration")
    shot = tmp_path / "serve-page.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    if os.environ.get("SOUNDSORT_SCREENSHOT"):  # to refresh the README's picture
        shutil.copy(shot, os.environ["SOUNDSORT_SCREENSHOT"])

    # an error is shown for its file, in words
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio\n" * 100)
    browser.find_element(By.ID, "files").send_keys(str(bad))
    failed = _wait_for(browser, "li.file[data-state=error]", 60)
    assert "Error: notes.wav: not audio: the content is text" in failed.text

    # a phone-width screen: nothing wider than the screen
    browser.set_window_size(390, 844)
    time.sleep(0.3)
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
    phone = tmp_path / "serve-page-phone.png"
    assert browser.save_screenshot(str(phone)) and phone.stat().st_size > 5_000

    # the API docs render with no network (their scripts are served by the app)
    browser.get(url + "docs")
    title = _wait_for(browser, ".swagger-ui .info .title", 60)
    assert "soundsort" in title.text
    assert browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path[data-path='/v1/classify']")


def test_bad_command_lines_are_one_line_each() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    cases = [(["--max-upload", "12parsecs"], "--max-upload: not a size"), (["--port", "70000"], "--port must be"),
             (["--port", str(port), "--workers", "1"], f"cannot listen on 127.0.0.1:{port} (address already in use)")]
    try:
        for args, said in cases:
            res = subprocess.run([sys.executable, "-m", "soundsort", "serve", *args], capture_output=True, text=True,
                                 timeout=120)
            errors = [line for line in res.stderr.splitlines() if line.startswith("soundsort: ")]
            assert res.returncode == 2 and len(errors) == 1 and said in errors[0], res.stderr
            assert "Traceback" not in res.stderr
    finally:
        taken.close()
