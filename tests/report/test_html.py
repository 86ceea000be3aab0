"""The HTML report without a pipeline run: escaping, galleries, caps, charts, empty runs."""

from __future__ import annotations

import base64
import html
import io
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from dataqual.imageset import ImageBatch
from dataqual.profile import profile_batches
from dataqual.report import write_report
from dataqual.report.charts import bar_chart, histogram, nice_ticks
from dataqual.report.images import fetch_images
from dataqual.spec import DatasetSpec
from dataqual.store.manifest import Manifest, ShardEntry, SplitEntry
from dataqual.store.schema import batch_to_table
from dataqual.store.shards import QUARANTINE_SCHEMA
from dataqual.validate.report import FINDINGS_COLUMNS

EVIL = '<script>alert("x")</script>'
IMG_RE = re.compile(r'<img (?:class="thumb" )?alt="([^"]*)" src="data:image/png;base64,([^"]+)"')


class MiniRun:
    """A run folder written by hand: shards, quarantine, a profile and a summary."""

    def __init__(
        self,
        root: Path,
        *,
        train: int = 40,
        test: int = 10,
        removed: dict[str, tuple[str, str]] | None = None,
        ids: dict[str, list[str]] | None = None,
    ) -> None:
        rng = np.random.default_rng(1)
        self.root = root
        self.removed = (
            removed
            if removed is not None
            else {
                "train/0": ("blank_image", "std=0.0"),
                "train/1": ("exact_duplicate", "duplicate_of=train/2"),
                "train/3": ("leakage", "leaks_into=test/0"),
            }
        )
        ids = ids or {
            s: [f"{s}/{i}" for i in range(n)] for s, n in (("train", train), ("test", test))
        }
        self.images: dict[str, np.ndarray] = {}
        batches = []
        for split, split_ids in ids.items():
            n = len(split_ids)
            images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
            batch = ImageBatch(
                split=split,
                ids=np.array(split_ids),
                labels=np.arange(n) % 10,
                images=images,
                positions=np.arange(n),
            )
            batches.append(batch)
            self.images.update(zip(split_ids, images, strict=True))
        self.profile = profile_batches(batches, (28, 28))
        # the partner columns the duplicate and leakage analysers add to a run's profile
        by_column: dict[str, dict[str, str]] = {}
        for rid, (_, detail) in self.removed.items():
            if "=" in detail:
                column, other = detail.split("=", 1)
                by_column.setdefault(column, {})[rid] = other
        for column in ("duplicate_of", "leaks_into"):
            self.profile.table[column] = self.profile.table["id"].map(by_column.get(column, {}))
        self.shards = root / "shards"
        entries, splits = [], {}
        quarantined = []
        for batch in batches:
            gone = np.isin(batch.ids, list(self.removed))
            kept = batch.take(~gone)
            rel = f"{batch.split}/part-00000.parquet"
            (self.shards / batch.split).mkdir(parents=True, exist_ok=True)
            pq.write_table(batch_to_table(kept), self.shards / rel)
            entries.append(ShardEntry(path=rel, split=batch.split, rows=len(kept), sha256="0"))
            splits[batch.split] = SplitEntry(
                rows=len(kept),
                label_counts={
                    str(k): int(v)
                    for k, v in zip(*np.unique(kept.labels, return_counts=True), strict=True)
                },
            )
            if gone.any():
                quarantined.append(batch.take(gone))
        Manifest(height=28, width=28, splits=splits, shards=entries).write(self.shards)
        self.quarantine = root / "quarantine.parquet"
        schema = QUARANTINE_SCHEMA(28, 28)
        tables = []
        for gone in quarantined:
            t = batch_to_table(gone)
            t = t.set_column(2, schema.field("label"), pa.array(gone.labels, pa.int64()))
            t = t.append_column(
                schema.field("reasons"),
                pa.array([[self.removed[i][0]] for i in gone.ids], pa.list_(pa.string())),
            )
            t = t.append_column(
                schema.field("details"),
                pa.array([[self.removed[i][1]] for i in gone.ids], pa.list_(pa.string())),
            )
            tables.append(t.replace_schema_metadata(schema.metadata))
        pq.write_table(
            pa.concat_tables(tables) if tables else schema.empty_table(), self.quarantine
        )
        self.findings = pd.DataFrame(
            [
                {
                    "id": i,
                    "split": i.split("/")[0],
                    "check": c,
                    "severity": "error",
                    "action": "drop" if c != "blank_image" else "quarantine",
                    "detail": d,
                    "stage": "raw",
                    "action_taken": "drop" if c != "blank_image" else "quarantine",
                }
                for i, (c, d) in self.removed.items()
            ],
            columns=[*FINDINGS_COLUMNS, "action_taken"],
        ).astype("string")
        total = sum(len(b) for b in batches)
        self.summary = {
            "success": True,
            "dataset": "mini",
            "source": str(root),
            "format": "idx",
            "counts": {
                "rows": total,
                "kept": total - len(self.removed),
                "repaired": 0,
                "quarantined": len(self.removed),
            },
            "splits": {k: v.model_dump() for k, v in splits.items()},
            "checks": [
                {
                    "name": "blank_image",
                    "description": "Image is not blank",
                    "split": "train",
                    "suite": "accuracy",
                    "severity": "error",
                    "action": "quarantine",
                    "success": False,
                    "skipped": None,
                    "unexpected_count": 1,
                }
            ],
            "cleaned": {"checks": []},
            "blocking": [],
        }

    def write(self, **overrides: object) -> str:
        kwargs: dict[str, object] = dict(
            summary=self.summary,
            findings=self.findings,
            raw_profile=self.profile,
            quarantine=self.quarantine,
            shards=self.shards,
            artefacts={"quarantine": "quarantine.parquet"},
            spec=DatasetSpec(name="mini"),
        )
        kwargs.update(overrides)
        path = write_report(self.root / "report.html", **kwargs)  # type: ignore[arg-type]
        return path.read_text(encoding="utf-8")


def decoded_images(page: str) -> dict[str, list[np.ndarray]]:
    """Every inline PNG of the page by its alt text, decoded."""
    out: dict[str, list[np.ndarray]] = {}
    for alt, data in IMG_RE.findall(page):
        image = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))))
        out.setdefault(html.unescape(alt), []).append(image)
    return out


def gallery(page: str, check: str) -> str:
    start = page.index(f'data-check="{html.escape(check, quote=True)}"')
    end = page.find("</section>", start)
    return page[start:end]


@pytest.fixture
def mini(tmp_path: Path) -> MiniRun:
    return MiniRun(tmp_path)


def test_galleries_read_images_from_quarantine_and_shards(mini: MiniRun) -> None:
    page = mini.write()
    images = decoded_images(page)
    for rid in ("train/0", "train/1", "train/2", "train/3", "test/0"):
        assert rid in images, rid
        np.testing.assert_array_equal(images[rid][0], mini.images[rid])
    assert 'id="status">PASSED<' in page


def test_duplicates_and_leaks_are_shown_as_pairs(mini: MiniRun) -> None:
    page = mini.write()
    dup, leak = gallery(page, "exact_duplicate"), gallery(page, "leakage")
    assert 'class="tile pair"' in dup and "duplicate of" in dup
    assert [alt for alt, _ in IMG_RE.findall(dup)] == ["train/1", "train/2"]
    assert [alt for alt, _ in IMG_RE.findall(leak)] == ["train/3", "test/0"]
    assert "leaks into" in leak


def test_every_data_string_is_escaped(tmp_path: Path) -> None:
    bad = f"train/{EVIL}"
    ids = {"train": [bad, *(f"train/{i}" for i in range(1, 12))], "test": ["test/0"]}
    run = MiniRun(
        tmp_path, ids=ids, removed={bad: (f"check{EVIL}", f'detail"><img src=x onerror=1>{EVIL}')}
    )
    run.findings.loc[0, "split"] = EVIL
    run.summary.update(source=EVIL, format=EVIL, dataset=EVIL)
    run.summary["checks"][0].update(name=EVIL, description=EVIL, split=EVIL)
    run.summary["blocking"] = [run.summary["checks"][0]]
    run.summary["success"] = False
    queue = pd.DataFrame(
        {
            "id": [bad],
            "split": [EVIL],
            "given_label": [EVIL],
            "suggested_label": [EVIL],
            "score": [0.1],
            "rank": [1],
        }
    )
    page = run.write(
        label_issues=queue, spec=DatasetSpec(name=EVIL), artefacts={EVIL: f'"><script>{EVIL}'}
    )
    assert "<script" not in page.lower()
    assert "onerror=1>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page
    assert 'id="status">FAILED VALIDATION<' in page
    assert bad in decoded_images(page)  # the image is still found and shown


def test_gallery_is_capped_and_says_how_many_are_hidden(mini: MiniRun) -> None:
    rows = [
        {
            "id": f"train/{i}",
            "split": "train",
            "check": "noise",
            "severity": "warning",
            "action": "flag",
            "detail": f"midtone={i}",
            "stage": "raw",
            "action_taken": "flag",
        }
        for i in range(4, 40)
    ]
    findings = pd.concat([mini.findings, pd.DataFrame(rows).astype("string")], ignore_index=True)
    page = mini.write(findings=findings, cap=10)
    noise = gallery(page, "noise")
    assert noise.count('<figure class="tile') == 10
    assert len(IMG_RE.findall(noise)) == 10
    assert "26 more not shown" in noise
    assert ">36</td>" in page  # the findings table counts every row


def test_charts_are_inline_svg(mini: MiniRun) -> None:
    page = mini.write()
    assert page.count('<svg class="chart"') == 4  # classes of train and test, mean, ink fraction
    for title in (
        "Class distribution · train",
        "Class distribution · test",
        "Mean intensity per image",
        "Ink fraction per image",
    ):
        assert title in page
    assert "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )


@pytest.mark.parametrize(
    "findings",
    [
        pd.DataFrame(
            {c: pd.Series(dtype="string") for c in FINDINGS_COLUMNS}
        ),  # as validation writes it
        pd.DataFrame(),
    ],
)
def test_zero_findings(tmp_path: Path, findings: pd.DataFrame) -> None:
    run = MiniRun(tmp_path, removed={})
    page = run.write(findings=findings)
    assert 'id="status">PASSED<' in page
    assert "No row was flagged." in page and "No findings." in page
    assert "<img" not in page
    assert page.count('<svg class="chart"') == 4


def test_label_queue_shows_top_n_given_vs_suggested(mini: MiniRun) -> None:
    queue = pd.DataFrame(
        {
            "id": [f"train/{i}" for i in range(10, 40)],
            "split": "train",
            "given_label": np.arange(30) % 10,
            "suggested_label": (np.arange(30) + 1) % 10,
            "score": np.linspace(0.01, 0.3, 30),
            "rank": np.arange(30, 0, -1),
        }
    )
    queue.to_parquet(mini.root / "label_issues.parquet")
    # Found through the artefacts mapping when not passed, as the pipeline writes it first.
    page = mini.write(cap=5, artefacts={"label_issues": "label_issues.parquet"})
    section = page[page.index('id="label-issues"') : page.index('id="galleries"')]
    assert section.count('<figure class="tile queue-tile"') == 5
    assert "train/39" in section and "train/10" not in section  # rank 1 is train/39
    first = section[section.index("train/39") :]
    assert 'given <b class="given">9</b> → <b class="sugg">0</b>' in first
    assert "#1 · score 0.300" in first
    assert "25 more in label_issues.parquet" in section
    assert len(IMG_RE.findall(section)) == 5


def test_suggested_label_and_score_on_tiles(mini: MiniRun) -> None:
    profile = mini.profile
    profile.table["suggested_label"] = pd.array([pd.NA] * len(profile.table), dtype="Int64")
    profile.table.loc[profile.table["id"] == "train/0", "suggested_label"] = 7
    profile.table["label_quality"] = 0.5
    tile = gallery(mini.write(raw_profile=profile), "blank_image")
    assert "→ 7" in tile and "0.500" in tile


def test_repaired_rows_show_before_and_after(mini: MiniRun) -> None:
    findings = pd.concat(
        [
            mini.findings,
            pd.DataFrame(
                [
                    {
                        "id": "train/5",
                        "split": "train",
                        "check": "inverted_image",
                        "severity": "error",
                        "action": "repair",
                        "detail": "border_mean=255",
                        "stage": "raw",
                        "action_taken": "repair",
                    }
                ]
            ).astype("string"),
        ],
        ignore_index=True,
    )
    tile = gallery(mini.write(findings=findings), "inverted_image")
    assert "before" in tile and "after" in tile
    assert len(IMG_RE.findall(tile)) == 2


def test_missing_image_and_table_level_findings(mini: MiniRun) -> None:
    findings = pd.concat(
        [
            mini.findings,
            pd.DataFrame(
                [
                    {
                        "id": "train/999",
                        "split": "train",
                        "check": "odd",
                        "severity": "warning",
                        "action": "flag",
                        "detail": "",
                        "stage": "raw",
                        "action_taken": "flag",
                    },
                    {
                        "id": "",
                        "split": "train",
                        "check": "class_balance",
                        "severity": "error",
                        "action": "none",
                        "detail": "Classes are balanced: observed {'min_share': 0.01}",
                        "stage": "cleaned",
                        "action_taken": "none",
                    },
                ]
            ).astype("string"),
        ],
        ignore_index=True,
    )
    page = mini.write(findings=findings)
    assert "no image" in gallery(page, "odd")
    assert 'data-check="class_balance"' not in page  # no gallery for a table-level finding
    assert "min_share" in page[page.index('id="findings"') : page.index('id="charts"')]


def test_fetch_images_reads_only_wanted_rows(mini: MiniRun) -> None:
    got = fetch_images(
        ["train/0", "train/5", "test/3", "nope/1"],
        quarantine=mini.quarantine,
        shards=mini.shards,
        shape=(28, 28),
    )
    assert set(got) == {"train/0", "train/5", "test/3"}
    assert got["train/0"].origin == "quarantine" and got["test/3"].origin == "shards"
    np.testing.assert_array_equal(got["test/3"].image, mini.images["test/3"])


def test_ten_thousand_findings_stay_small_and_fast(tmp_path: Path) -> None:
    run = MiniRun(tmp_path, train=2000, test=100)
    rng = np.random.default_rng(2)
    checks = [f"check_{i}" for i in range(12)]
    ids = [f"train/{i}" for i in rng.integers(0, 2000, 10_000)]
    findings = pd.DataFrame(
        {
            "id": ids,
            "split": "train",
            "check": rng.choice(checks, 10_000),
            "severity": "warning",
            "action": "flag",
            "detail": "x=1",
            "stage": "raw",
            "action_taken": "flag",
        }
    ).astype("string")
    started = time.perf_counter()
    page = run.write(findings=findings)
    assert time.perf_counter() - started < 3.0
    assert len(page) < 600_000
    assert len(IMG_RE.findall(page)) == 12 * 24


def test_chart_helpers() -> None:
    assert nice_ticks(0) == [0.0, 1.0]
    assert nice_ticks(61)[-1] >= 61 and nice_ticks(61)[:3] == [0, 20, 40]
    svg = bar_chart(["0", EVIL], {"raw": [3, 0], "kept": [2, 0]}, title=EVIL)
    assert "<script" not in svg and svg.startswith("<svg")
    hist = histogram({"train": np.array([0.0, 1.0, np.nan])}, lo=0, hi=1, title="t", x_label="x")
    assert hist.count("<rect") >= 2
