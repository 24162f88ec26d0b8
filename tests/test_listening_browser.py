"""A real headless Chromium (Debian's chromium + chromium-driver via selenium) completes the study as
two participants: consent, volume check, every question with its clips played, the attention check,
closing the page midway and resuming, and the completion code; then the database rows."""

import json
import shutil
import sqlite3

import pytest

pytest.register_assert_rewrite("listening_support")
from listening_support import attention_ids, invite

pytest_plugins = ("listening_support",)  # the fixtures: one session-wide smoke run, a server per test

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM and DRIVER),
        reason="needs Debian's chromium and chromium-driver (make deps installs them as root)",
    ),
]
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
    "--window-size=900,700",
)


def browser(profile):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(20)
    return driver


def wait(driver, condition, timeout=15):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)


def visible(element_id):
    return lambda d: d.find_element("id", element_id).is_displayed()


def answer_questions(driver, silent, count=None, screenshot=None):
    """Answer ``count`` questions (all when None); returns the progress texts seen."""
    seen = []
    while driver.find_element("id", "question").is_displayed() and (count is None or len(seen) < count):
        progress = driver.find_element("id", "progress").text
        seen.append(progress)
        buttons = driver.find_elements("css selector", "button.clip")
        assert driver.find_element("id", "submit").get_attribute("disabled") is not None
        for button in buttons:
            button.click()
            wait(driver, lambda d, b=button: "played" in b.get_attribute("class"))
        wait(driver, lambda d: d.find_element("id", "submit").get_attribute("disabled") is None)
        stimuli = {b.get_attribute("data-stimulus") for b in buttons}
        quality, blending = (1, 5) if stimuli <= silent else (2, 4)
        driver.find_element("css selector", f"input[name=quality][value='{quality}']").click()
        driver.find_element("css selector", f"input[name=blending][value='{blending}']").click()
        if screenshot is not None and len(seen) == 2:
            driver.execute_script("window.scrollTo(0, 0)")
            driver.save_screenshot(str(screenshot))
        driver.find_element("id", "submit").click()
        wait(
            driver,
            lambda d, p=progress: (
                not d.find_element("id", "question").is_displayed()
                or d.find_element("id", "progress").text != p
            ),
        )
    return seen


def consent(driver):
    wait(driver, visible("consent"))
    assert "answer" in driver.find_element("id", "consent").text
    driver.find_element("id", "agree").click()
    driver.find_element("id", "play-volume").click()
    wait(driver, lambda d: d.find_element("id", "volume-ok").is_enabled())
    driver.find_element("id", "volume-ok").click()
    driver.find_element("id", "start").click()
    wait(driver, visible("question"))


def test_two_participants_complete_the_study_in_chromium_with_a_resume(server, study, tmp_path):
    tokens = invite(study, 2)
    silent = attention_ids(study)
    n = len(json.loads((study / "study.json").read_text())["questions"]) + 1
    codes = []
    first = browser(tmp_path / "profile-1")
    try:
        first.get(f"{server.url}/?token={tokens[0]}")
        consent(first)
        seen = answer_questions(first, silent, count=3, screenshot=tmp_path / "question.png")
        assert seen == [f"Question {k} of {n}" for k in (1, 2, 3)]
        # one clip of question 4 played, then the page is closed
        first.find_element("css selector", "button.clip").click()
        wait(
            first, lambda d: "played" in d.find_element("css selector", "button.clip").get_attribute("class")
        )
    finally:
        first.quit()
    again = browser(tmp_path / "profile-1b")
    try:
        again.get(f"{server.url}/?token={tokens[0]}")
        wait(again, visible("question"))
        assert again.find_element("id", "progress").text == f"Question 4 of {n}"
        assert "played" in again.find_element("css selector", "button.clip").get_attribute("class")
        assert len(answer_questions(again, silent)) == n - 3
        wait(again, visible("done"))
        codes.append(again.find_element("id", "code").text)
    finally:
        again.quit()
    second = browser(tmp_path / "profile-2")
    try:
        second.get(f"{server.url}/?token={tokens[1]}")
        consent(second)
        assert len(answer_questions(second, silent)) == n
        wait(second, visible("done"))
        codes.append(second.find_element("id", "code").text)
        second.get(f"{server.url}/?token=not-a-token")
        wait(second, visible("error"))
        assert "unknown token" in second.find_element("id", "error").text
    finally:
        second.quit()
    assert (tmp_path / "question.png").stat().st_size > 5000
    with sqlite3.connect(study / "study.db") as db:
        people = db.execute(
            "SELECT token, completion_code, passed_attention, finished_at FROM participants "
            "ORDER BY invited_at, token"
        ).fetchall()
        assert {(p[0], p[1], p[2]) for p in people} == {(t, c, 1) for t, c in zip(tokens, codes)}
        for token in tokens:
            order = db.execute(
                "SELECT question FROM question_order WHERE token = ? ORDER BY position", (token,)
            ).fetchall()
            answers = db.execute(
                "SELECT question, quality, blending, first_system, second_system FROM answers "
                "WHERE token = ? ORDER BY position",
                (token,),
            ).fetchall()
            assert [a[0] for a in answers] == [o[0] for o in order] and len(order) == n
            for question, quality, blending, first_system, second_system in answers:
                if question == "attention":
                    assert (quality, blending, first_system) == (1, 5, None)
                else:
                    assert (quality, blending) == (2, 4) and first_system != second_system
            played = db.execute(
                "SELECT question, COUNT(DISTINCT stimulus) FROM play_events WHERE token = ? "
                "GROUP BY question",
                (token,),
            ).fetchall()
            assert sorted(played) == sorted((o[0], 4) for o in order)
        orders = [
            tuple(
                r[0]
                for r in db.execute(
                    "SELECT question FROM question_order WHERE token = ? ORDER BY position", (t,)
                )
            )
            for t in tokens
        ]
    assert sorted(orders[0]) == sorted(orders[1])
