"""``python -m bench report`` (bench/reports/site.py) on the session's smoke run, with a listening study
whose simulated listeners follow one metric: the files the pages name exist and are local, the
worst items are the worst, the item distance is its formula; then the pages in a real headless
Chromium (Debian's chromium + chromium-driver via selenium): no console error, every audio element
loads and plays, the table sorts on a header click."""

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest_plugins = ("support.listening_support",)  # the session-wide smoke run and its study

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def site(listening_run, built_study, tmp_path_factory):
    from support.paths import FIXTURES

    from bench.commands.cli import main

    root = tmp_path_factory.mktemp("report")
    run = listening_run / "out" / "table1.json"
    answers = root / "answers.csv"
    study = ["--study", str(built_study), "--against", str(run)]
    assert (
        main(
            [
                "listening",
                "simulate",
                "--follow",
                "rhythm",
                *study,
                "--participants",
                "12",
                "--out",
                str(answers),
            ]
        )
        == 0
    )
    argv = ["report", str(run), "--out", str(root / "site"), "--cache", str(listening_run / "cache")]
    argv += ["--data", str(FIXTURES), "--data-cache", str(listening_run / "data"), "--worst", "2"]
    argv += ["--study", str(built_study), "--answers", str(answers), "--bootstrap", "50"]
    assert main(argv) == 0
    return root / "site", run


def pages(site_dir: Path) -> list[Path]:
    return sorted(site_dir.glob("*.html"))


@pytest.mark.slow
def test_every_file_the_pages_name_is_in_the_site_and_nothing_is_fetched_from_elsewhere(site):
    site_dir, _ = site
    names = [p.name for p in pages(site_dir)]
    assert names == [
        "index.html",
        "system-cross-synthesis.html",
        "system-reference.html",
        "system-shuffled.html",
    ]
    audio = 0
    for page in pages(site_dir):
        text = page.read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text
        for src in re.findall(r'(?:src|href)="([^"#]+)"', text):
            if not src.startswith("data:"):
                assert (site_dir / src).is_file(), (page.name, src)
        audio += text.count("<audio")
    assert audio >= 3 * 2 * 3  # per system page: output and reference(s) of each item shown
    for asset in ("assets/site.js", "assets/site.css"):
        assert "http" not in (site_dir / asset).read_text()
    files = [p for p in site_dir.rglob("*") if p.is_file()]
    index = (site_dir / "index.html").read_text()
    stated = re.search(r"This report: (\d+) files, ([\d.]+) MiB", index)
    assert int(stated.group(1)) == len(files) - 1  # report.json is written after the index
    assert float(stated.group(2)) == pytest.approx(sum(p.stat().st_size for p in files) / 2**20, abs=0.05)
    assert (site_dir / "figures" / "bands-table1.png").stat().st_size > 10_000
    assert "Listening study" in index and "Automatic metrics against the listeners" in index


@pytest.mark.slow
def test_the_items_shown_first_are_the_worst_of_the_run(site):
    site_dir, run = site
    items = pd.read_csv(run.with_name("table1_items.csv"))
    page = (site_dir / "system-shuffled.html").read_text()
    for task, section in zip(("conditional", "blend"), page.split("<h2>")[1:]):
        rows = items[(items.system == "shuffled") & (items.task == task) & items.ok]
        worst_loudness = rows.sort_values(["loudness", "item"]).item.iloc[0]  # higher is better
        worst_timbre = rows.sort_values(["timbre", "item"], ascending=[False, True]).item.iloc[0]
        for key, label in ((worst_loudness, "Loud. (#1)"), (worst_timbre, "Timb. (#1)")):
            row = re.search(rf">{re.escape(key)}</a></td><td[^>]*>([^<]*)</td>", section)
            assert row and label in row.group(1), (task, key)


def test_the_item_distance_is_the_shrunk_mahalanobis_formula():
    from scipy.spatial.distance import mahalanobis

    from bench.metrics.item_distance import mahalanobis_sq, reference_gaussian

    rng = np.random.default_rng(0)
    reference = rng.normal(size=(400, 5)) @ rng.normal(size=(5, 5))
    item = rng.normal(size=(3, 5))
    mu, cholesky = reference_gaussian(reference, shrinkage=0.1)
    cov = np.cov(reference, rowvar=False)
    shrunk = 0.9 * cov + 0.1 * np.trace(cov) / 5 * np.eye(5)
    expected = np.mean([mahalanobis(row, reference.mean(0), np.linalg.inv(shrunk)) ** 2 for row in item])
    assert mahalanobis_sq(item, mu, cholesky) == pytest.approx(expected, rel=1e-10)
    # unshrunk, a draw from the reference Gaussian has E[D^2] = d
    mu, cholesky = reference_gaussian(reference, shrinkage=0.0)
    draws = reference.mean(0) + rng.multivariate_normal(np.zeros(5), cov, size=4000)
    assert mahalanobis_sq(draws, mu, cholesky) == pytest.approx(5, rel=0.05)
    # fewer reference rows than dimensions: the shrinkage keeps it finite
    mu, cholesky = reference_gaussian(rng.normal(size=(4, 10)))
    assert np.isfinite(mahalanobis_sq(rng.normal(size=10), mu, cholesky))


def test_bad_input_is_named(tmp_path, capsys):
    from bench.commands.cli import main
    from bench.metrics.item_distance import ItemDistanceError, mahalanobis_sq, reference_gaussian

    with pytest.raises(ItemDistanceError, match="shape"):
        reference_gaussian(np.zeros(3))
    mu, cholesky = reference_gaussian(np.random.default_rng(0).normal(size=(10, 3)))
    with pytest.raises(ItemDistanceError, match="does not match"):
        mahalanobis_sq(np.zeros(4), mu, cholesky)
    assert main(["report", str(tmp_path / "none.json"), "--out", str(tmp_path / "site")]) == 2
    assert "none.json: no such results file" in capsys.readouterr().err
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("x")
    from bench.reports.site import _prepare
    from bench.reports.site_items import SiteInputError

    with pytest.raises(SiteInputError, match="not a report folder"):
        _prepare(tmp_path / "taken")


FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
    "--allow-file-access-from-files",
    "--window-size=1200,900",
)

PLAY_ALL = """
const done = arguments[arguments.length - 1];
const audios = Array.from(document.querySelectorAll("audio"));
Promise.all(audios.map(a => new Promise(resolve => {
  const report = extra => resolve({src: a.currentSrc, readyState: a.readyState, duration: a.duration,
                                   error: a.error ? a.error.code : null, ...extra});
  a.addEventListener("error", () => report({played: false}), {once: true});
  const play = () => a.play().then(() => { a.pause(); report({played: true}); },
                                    e => report({played: false, reason: String(e)}));
  if (a.readyState >= 1) { play(); }
  else { a.addEventListener("loadedmetadata", play, {once: true}); a.load(); }
}))).then(done);
"""


@pytest.mark.slow
@pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="needs Debian's chromium and chromium-driver (make deps-test installs them)",
)
def test_the_pages_load_play_and_sort_in_chromium(site, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    site_dir, _ = site
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(60)
    try:
        played = 0
        for page in pages(site_dir):
            driver.get(page.as_uri())
            WebDriverWait(driver, 10).until(
                lambda d: d.execute_script("return document.readyState") == "complete"
            )
            for result in driver.execute_async_script(PLAY_ALL):
                assert result["played"] and result["error"] is None, (page.name, result)
                assert result["readyState"] >= 1 and result["duration"] > 5, (page.name, result)
                played += 1
            if page.name == "system-shuffled.html":
                driver.save_screenshot(str(tmp_path / "system.png"))
            errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            assert errors == [], (page.name, errors)
        assert played >= 18
        driver.get((site_dir / "index.html").as_uri())
        column = "bl. Loud. ↑"

        def values(name):
            table = driver.find_element("id", "results")
            headers = [th.text for th in table.find_elements("css selector", "thead th")]
            index = headers.index(name)
            cells = table.find_elements("css selector", f"tbody tr td:nth-child({index + 1})")
            return [float(c.get_attribute("data-v")) if c.get_attribute("data-v") else None for c in cells]

        header = next(
            th for th in driver.find_elements("css selector", "#results thead th") if th.text == column
        )
        header.click()
        ascending = values(column)
        assert ascending == sorted(ascending) and len(set(ascending)) == 3
        header.click()
        assert values(column) == sorted(ascending, reverse=True)
        systems = [td.text for td in driver.find_elements("css selector", "#results tbody tr td:first-child")]
        assert systems[0] == "reference"  # the oracle blends best on loudness
        assert (tmp_path / "system.png").stat().st_size > 10_000
    finally:
        driver.quit()
