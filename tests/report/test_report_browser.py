"""The report of a real run with planted defects, opened from disk in headless Chromium.

CI installs Debian's Chromium (``apt-get install chromium``); playwright never downloads a
browser here. Without /usr/bin/chromium the test fails unless DATAQUAL_SKIP_BROWSER=1.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from dataqual.config import RunConfig
from dataqual.run import run_pipeline

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


def write_idx(folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    n = len(images)
    header = struct.pack(">HBBIII", 0, 8, 3, n, 28, 28)
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(header + images.tobytes())
    labels_header = struct.pack(">HBBI", 0, 8, 1, n)
    label_bytes = labels.astype(np.uint8).tobytes()
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(labels_header + label_bytes)


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
    write_idx(folder, "train", train, train_labels)
    write_idx(folder, "t10k", test, test_labels)
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
    sync_playwright = _browser_or_fail()
    source = planted_dataset(tmp_path / "src")
    out = tmp_path / "run"
    outcome = run_pipeline(RunConfig(source=source, out=out, overwrite=True, train=False))
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
    assert charts == 4  # class distribution of both splits, mean and ink fraction
