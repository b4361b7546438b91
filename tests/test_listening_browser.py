"""A real listening session in Debian's headless Chromium (Selenium): start, familiarise, rate, resume, finish.

The app runs on a real waitress server on 127.0.0.1; the stimuli are real FluidSynth renderings of hand-made
loops. The browser plays nothing, but every audio element's source must load (its duration becomes known).
"""

import shutil
import threading
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from loopkit.outputs.audio import AudioSettings
from loopkit.listening import db
from loopkit.listening.app import create_app
from loopkit.listening.prepare import prepare_stimuli
from loopkit.data.pianoroll import LOOP_STEPS, N_COLUMNS, bass_column, drum_column, write_midi

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FAST = AudioSettings(sample_rate=16_000, tail=0.1)
BPM = 480.0
SECONDS = 128 * 60 / (4 * BPM) + FAST.tail  # 4.1 s

pytestmark = pytest.mark.browser

WAIT_AUDIO = """
const done = arguments[arguments.length - 1];
const players = Array.from(document.querySelectorAll('audio'));
Promise.all(players.map(a => new Promise(resolve => {
  const report = () => resolve({src: a.currentSrc, duration: a.duration, error: a.error ? a.error.code : null});
  if (a.readyState >= 1 || a.error) { report(); return; }
  a.addEventListener('loadedmetadata', report, {once: true});
  a.addEventListener('error', report, {once: true});
}))).then(done);
"""


def make_loop(variant: int) -> np.ndarray:
    roll = np.zeros((LOOP_STEPS, N_COLUMNS), dtype=bool)
    for bar in range(8):
        start = bar * 16
        roll[start : start + 4, bass_column(33 + (variant + bar) % 12)] = True
        roll[start, drum_column("kick")] = roll[start, drum_column("crash")] = True
        roll[start + 4 + variant % 4, drum_column("snare")] = True
    return roll


@pytest.fixture()
def server(tmp_path):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Debian's chromium and chromium-driver are not installed (scripts/setup.sh --test installs them)")
    from waitress import create_server

    groups = {}
    for k, name in enumerate(("Group one", "Group two")):
        folder = tmp_path / f"g{k}"
        folder.mkdir()
        for i in range(3):
            write_midi(make_loop(10 * k + i), folder / f"{i}.mid")
        groups[name] = str(folder)
    stimuli = prepare_stimuli(groups, tmp_path / "stimuli", per_group=2, familiarisation=1, seed=3, bpm=BPM,
                              settings=FAST, progress=False)  # fmt: skip
    app = create_app(stimuli.root, tmp_path / "ratings.sqlite")
    srv = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.effective_port}", stimuli, tmp_path / "ratings.sqlite"
    finally:
        srv.close()
        thread.join(timeout=10)


@pytest.fixture()
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required"):  # fmt: skip
        options.add_argument(arg)
    profile = tmp_path / "chromium-profile"
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def click_and_wait(driver, element_id: str) -> None:
    """Click a button that submits a form, and wait until the next page has replaced this one."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    old_page = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, element_id).click()
    WebDriverWait(driver, 30).until(ec.staleness_of(old_page))
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")


def audio_loads(driver) -> list[dict]:
    players = driver.execute_async_script(WAIT_AUDIO)
    assert players, "no audio element on the page"
    for p in players:
        assert p["error"] is None, p
        assert p["duration"] == pytest.approx(SECONDS, abs=0.05), p
    return players


def test_a_listening_session_in_chromium(server, browser):
    from selenium.webdriver.common.by import By

    url, stimuli, db_path = server
    browser.get(url + "/")
    assert "How much does this sound like music?" in browser.page_source
    click_and_wait(browser, "start")

    # familiarisation: one example, which loads
    players = audio_loads(browser)
    assert [p["src"] for p in players] == [f"{url}/audio/{i}.wav" for i in stimuli.familiarisation_ids]
    click_and_wait(browser, "begin")

    given = {}
    total = len(stimuli.test_ids)
    for k in range(total):
        if k == 2:  # close the page and come back: the session resumes at the third loop
            browser.get("about:blank")
            browser.get(url + "/")
        assert browser.find_element(By.ID, "progress-text").text == f"Loop {k + 1} of {total}"
        assert browser.find_element(By.ID, "progress").get_attribute("value") == str(k)
        (player,) = audio_loads(browser)
        sid = player["src"].rsplit("/", 1)[-1].removesuffix(".wav")
        assert sid in stimuli.test_ids and sid not in given
        rating = 5 - k % 5
        browser.find_element(By.ID, f"rating-{rating}").click()
        click_and_wait(browser, "next")
        given[sid] = rating
    assert "Thank you" in browser.page_source
    # nothing in the pages named a group
    assert "Group" not in browser.page_source

    rows = db.read_ratings(db_path)
    assert len(rows) == total == 4
    assert dict(zip(rows["stimulus"], rows["rating"])) == given
    by_id = stimuli.by_id()
    assert all(by_id[s]["group"] == g for s, g in zip(rows["stimulus"], rows["group"]))
    assert rows["listener"].nunique() == 1
    with closing(db.connect(db_path, readonly=True)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM listeners").fetchone()[0] == 1


@pytest.fixture()
def other_site():
    """A page server on another port of 127.0.0.1 (the same site for SameSite=Lax, another origin): serves the
    page set in ``pages``."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    pages: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = pages.get(self.path, "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", pages
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=10)


def test_a_page_on_another_port_cannot_rate_for_the_listener(server, browser, other_site):
    """Issue 28: a page served from another port of 127.0.0.1 auto-submitted a rating form into the listener's
    session (SameSite=Lax sends the cookie to other ports of one host), and it was stored for good. Now the origin
    check refuses it (403) and nothing is stored; the listener then rates as they meant to."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, stimuli, db_path = server
    other, pages = other_site
    browser.get(url + "/")
    click_and_wait(browser, "start")
    click_and_wait(browser, "begin")
    sid = browser.find_element(By.NAME, "stimulus").get_attribute("value")
    for name, policy in (("attack", ""), ("hidden", '<meta name="referrer" content="no-referrer">')):  # Origin: null
        pages[f"/{name}.html"] = (
            f'<!doctype html><html><head>{policy}</head><body><form id="f" method="post" action="{url}/rate">'
            f'<input name="stimulus" value="{sid}"><input name="rating" value="1"></form>'
            '<script>document.getElementById("f").submit()</script></body></html>'
        )
        browser.get(f"{other}/{name}.html")
        WebDriverWait(browser, 30).until(lambda d: d.current_url.startswith(url)  # the form's answer has arrived
                                          and d.execute_script("return document.readyState") == "complete")  # fmt: skip
        assert browser.current_url == f"{url}/rate" and "another site" in browser.page_source, name
        with closing(db.connect(db_path, readonly=True)) as conn:
            assert conn.execute("SELECT COUNT(*) FROM ratings").fetchone()[0] == 0, name
    browser.get(url + "/")  # the listener's own form still goes through, and their rating is the one stored
    assert browser.find_element(By.NAME, "stimulus").get_attribute("value") == sid
    browser.find_element(By.ID, "rating-4").click()
    click_and_wait(browser, "next")
    rows = db.read_ratings(db_path)
    assert rows["stimulus"].tolist() == [sid] and rows["rating"].tolist() == [4]
