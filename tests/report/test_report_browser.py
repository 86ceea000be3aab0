"""The report and the GX Data Docs of real runs, opened from disk in headless Chromium.

CI installs Debian's Chromium (``apt-get install chromium``); playwright never downloads a
browser here. Without /usr/bin/chromium the test fails unless DATAQUAL_SKIP_BROWSER=1.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from dataqual.config import RunConfig
from dataqual.run import run_pipeline
from dataqual.testing import write_idx_dataset
from dataqual.train.trainer import TrainConfig

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STATUS_TEXT = {"passed": "PASSED", "failed_validation": "FAILED VALIDATION"}


def synthetic_digits(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """28x28 white-on-black digits drawn with Pillow's font, jittered and rotated (all distinct)."""
    font = ImageFont.load_default(size=20)
    out = np.zeros((len(labels), 28, 28), np.uint8)
    for i, label in enumerate(labels):
        im = Image.new("L", (28, 28), 0)
        xy = (14 + int(rng.integers(-2, 3)), 14 + int(rng.integers(-2, 3)))
        ImageDraw.Draw(im).text(
            xy,
            str(label % 10),
            fill=255,
            font=font,
            anchor="mm",
            stroke_width=int(rng.integers(1, 3)),
            stroke_fill=255,
        )
        out[i] = np.asarray(im.rotate(float(rng.uniform(-15, 15)), resample=Image.BILINEAR))
    return out


def planted_dataset(folder: Path) -> Path:
    """200 train and 60 test digits with a blank, an inverted, a duplicate, a leak and label 11."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    train_labels, test_labels = np.arange(200) % 10, np.arange(60) % 10
    train, test = synthetic_digits(train_labels, rng), synthetic_digits(test_labels, rng)
    train[5] = 0  # blank
    train[7] = 255 - train[7]  # inverted
    train[9], train_labels[9] = train[3], train_labels[3]  # duplicate of train/3
    train[11], train_labels[11] = test[4], test_labels[4]  # leaks into test/4
    train_labels[13] = 11  # not a class
    data = {"train": (train, train_labels), "test": (test, test_labels)}
    return write_idx_dataset(folder, data, gz=False)


#: Image file names that are markup (no ``/``: not allowed in a file name), plus a literal
#: entity that must stay text; all are blank images, so several checks list their ids.
HOSTILE_NAMES = (
    "<img src=x onerror=alert(1)>.png",
    "<img src=x onerror=window.__pwned=1>.png",
    '"><svg onload=window.__pwned=1>.png',
    "'><img src=x onerror=alert(2)>.png",
    "a&lt;b&amp;.png",
)
#: Their record ids: ``<split>/<class folder>/<file name>``.
HOSTILE_IDS = tuple(f"train/3/{name}" for name in HOSTILE_NAMES)


def hostile_names_dataset(folder: Path) -> Path:
    """``ROOT/<split>/<label>/<i>.png``: 100 train and 30 test digits, plus blank (hence
    also duplicate) images in ``train/3`` named by :data:`HOSTILE_NAMES`."""
    rng = np.random.default_rng(1)
    for split, n in (("train", 100), ("test", 30)):
        labels = np.arange(n) % 10
        for i, (img, label) in enumerate(zip(synthetic_digits(labels, rng), labels, strict=True)):
            d = folder / split / str(label)
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(d / f"{i}.png")
    for name in HOSTILE_NAMES:
        Image.new("L", (28, 28), 0).save(folder / "train" / "3" / name, format="PNG")
    return folder


def _artifacts_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("DATAQUAL_ARTIFACTS_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _browser_or_fail():
    """Playwright's sync API, or skip only when DATAQUAL_SKIP_BROWSER=1; otherwise fail clearly."""
    skip = os.environ.get("DATAQUAL_SKIP_BROWSER") == "1"
    if not CHROMIUM.exists():
        if skip:
            pytest.skip(f"DATAQUAL_SKIP_BROWSER=1 and {CHROMIUM} is missing")
        pytest.fail(
            f"{CHROMIUM} is missing: run `apt-get install -y chromium` "
            "(or set DATAQUAL_SKIP_BROWSER=1 to skip the browser test)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if skip:
            pytest.skip("DATAQUAL_SKIP_BROWSER=1 and playwright is not installed")
        pytest.fail(
            "playwright is not installed: pip install 'playwright>=1.44' (no browser "
            "download needed; the test uses /usr/bin/chromium)"
        )
    return sync_playwright


def test_report_opens_in_chromium(tmp_path: Path) -> None:
    """A run that trains (1 epoch, forced if validation fails): its finished report shows
    the data and the model's results."""
    sync_playwright = _browser_or_fail()
    source = planted_dataset(tmp_path / "src")
    out = tmp_path / "run"
    training = TrainConfig(epochs=1, batch_size=32, force=True, input_pipeline="numpy")
    config = RunConfig(source=source, out=out, overwrite=True, training=training, compare_raw=True)
    outcome = run_pipeline(config)
    run = json.loads(outcome.run_json.read_text())
    report = out / run["report"]
    assert report.is_file()

    console_errors: list[str] = []
    failed: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: m.type == "error" and console_errors.append(m.text))
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.resolve().as_uri(), wait_until="load")

            status = page.locator("#status").inner_text().strip()
            images = page.evaluate(
                """() => [...document.querySelectorAll('.gallery img')].map(img => ({
                    data: img.src.startsWith('data:image/png;base64,'),
                    ok: img.complete && img.naturalWidth > 0,
                    check: (img.closest('[data-check]')?.dataset.check) ?? 'review-queue'}))"""
            )
            pairs = page.evaluate(
                """() => Object.fromEntries([...document.querySelectorAll('[data-check]')].map(
                    s => [s.dataset.check, s.querySelectorAll('figure.pair').length]))"""
            )
            charts = page.locator("svg.chart").count()
            model = page.evaluate(
                """() => {
                    const seen = el => !!el && el.getBoundingClientRect().width > 0
                        && getComputedStyle(el).visibility !== 'hidden';
                    const cm = document.querySelector('#model #confusion-matrix');
                    const pc = document.querySelector('#model #per-class-accuracy');
                    return {
                        matrix: seen(cm), perClass: seen(pc),
                        rows: cm ? cm.querySelectorAll('tbody tr').length : 0,
                        classes: pc ? pc.querySelectorAll('tbody tr').length : 0,
                        shaded: cm ? [...cm.querySelectorAll('td')].filter(
                            td => getComputedStyle(td).backgroundColor !== 'rgba(0, 0, 0, 0)'
                        ).length : 0,
                        kpi: document.querySelector('#model-kpis .kpi .v')?.textContent ?? '',
                        compared: seen(document.querySelector('#model #compare-per-class')),
                        comparedRows: document.querySelectorAll('#compare-per-class tbody tr')
                            .length,
                        verdict: document.querySelector('#compare-verdict')?.textContent ?? ''};
                }"""
            )
            page.screenshot(path=str(_artifacts_dir(tmp_path) / "report.png"), full_page=True)
        finally:
            browser.close()

    assert not console_errors, console_errors
    assert not failed, failed
    assert {u.split(":", 1)[0] for u in requests} <= {"file", "data"}, requests
    assert status == STATUS_TEXT[run["status"]]
    assert images and all(i["data"] and i["ok"] for i in images), images
    shown = {i["check"] for i in images}
    planted = {"blank_image", "inverted_image", "exact_duplicate", "leakage", "label_in_classes"}
    assert planted <= shown
    assert pairs["exact_duplicate"] == 1 and pairs["leakage"] == 1
    assert charts == 6  # class distribution of both splits, mean, ink fraction, 2 curves
    metrics = json.loads((out / run["metrics"]).read_text())
    assert model["matrix"] and model["perClass"], model
    assert model["rows"] == len(metrics["confusion_matrix"]) == 10
    assert model["classes"] == len(metrics["per_class_accuracy"]) == 10
    assert model["shaded"] > 0  # at least the diagonal of a model that learned something
    assert model["kpi"] == f"{metrics['test_accuracy']:.2%}"
    # --compare-raw: the raw model kept every row but label 11 (blank, inverted, duplicate
    # and leak included), the cleaned one fewer; both judged on the same test rows
    compared = json.loads((out / run["compare_raw"]).read_text())
    assert compared["raw"]["train_rows"] == 199 > compared["cleaned"]["train_rows"]
    assert compared["cleaned"]["test_accuracy"] == metrics["test_accuracy"]
    assert compared["eval_rows"] == metrics["test_rows"]
    assert model["compared"] and model["comparedRows"] == 10, model
    assert f"{compared['raw']['test_accuracy']:.2%} on the raw rows (199)" in model["verdict"]


def test_data_docs_run_no_script_in_chromium(tmp_path: Path) -> None:
    """Record ids that are markup show as text in every Data Docs page; none runs."""
    sync_playwright = _browser_or_fail()
    out = tmp_path / "run"
    run_pipeline(RunConfig(source=hostile_names_dataset(tmp_path / "src"), out=out, train=False))
    run = json.loads((out / "run.json").read_text())
    assert run["data_docs"] == "data_docs/index.html"
    docs = (out / run["data_docs"]).parent
    pages = sorted(docs.rglob("*.html"))
    assert len(pages) > 2 and all(p.resolve().is_relative_to(docs.resolve()) for p in pages)

    dialogs: list[str] = []
    seen: dict[str, dict] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            # offline: GX's CDN scripts and styles are refused at once instead of timing out
            page.route(
                "**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort()
            )
            for doc in pages:
                page.goto(doc.resolve().as_uri(), wait_until="load")
                page.wait_for_timeout(100)  # an <img onerror> fires once its src failed
                seen[str(doc.relative_to(docs))] = page.evaluate(
                    """() => ({pwned: typeof window.__pwned,
                               injected: document.querySelectorAll('[onerror], [onload]').length,
                               inline: [...document.querySelectorAll('script')]
                                   .map(s => s.textContent),
                               text: document.body.textContent})"""
                )
        finally:
            browser.close()

    assert not dialogs, dialogs
    for name, got in seen.items():
        assert got["pwned"] == "undefined", name
        assert not any("__pwned" in s or "alert(" in s for s in got["inline"]), name
        assert got["injected"] == 0, name
    # ids shown as values (the exact duplicates' partner) read as the very text of the names
    row_pages = [
        got["text"]
        for name, got in seen.items()
        if name.startswith("validations/") and "raw_all_rows" in name
    ]
    assert len(row_pages) == 1
    assert [rid for rid in HOSTILE_IDS if rid in row_pages[0]]
