"""The store pass: shards, quarantine and cleaned profile from a tiny IDX source and a plan."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataqual.checks.base import Action, CheckResult, Severity
from dataqual.clean import CleaningPlan, cleaned_profile, plan_cleaning
from dataqual.imageset import MISSING_LABEL, ImageBatch, ImageSource, SplitInfo, position_ids
from dataqual.ingest.idx import IdxSource
from dataqual.profile import PROFILE_COLUMNS, Profile, profile_batch, profile_batches, thumbnails
from dataqual.store.schema import shard_schema, table_images
from dataqual.store.shards import QUARANTINE_SCHEMA, StoreResult, write_dataset
from dataqual.validate.report import ValidationReport
from tests.helpers import make_idx_dataset, random_images

H, W = 5, 7  # not square: height and width must not be swapped anywhere
TRAIN_X = random_images(12, (H, W), seed=10)
TRAIN_Y = np.array([0, 1, 11, 3, 4, 5, 6, 7, 8, 9, 1, 1], np.uint8)
TEST_X = random_images(3, (H, W), seed=11)
TEST_Y = np.array([2, 2, 0], np.uint8)

REMOVED = {"train/2": 2, "train/7": 7, "test/2": 2}  # id -> position in its split
INVERTED = {"train/5": 5, "test/1": 1}
KEPT_TRAIN = [i for i in range(12) if i not in (2, 7)]


def result(
    name: str, action: Action, ids: list[str], details: list[str], repair: str | None = None
) -> CheckResult:
    return CheckResult(
        name=name,
        description=name,
        severity=Severity.ERROR,
        action=action,
        success=False,
        ids=np.array(ids, dtype=str),
        details=np.array(details, dtype=str),
        repair=repair,
    )


def build(tmp_path: Path) -> tuple[IdxSource, Profile, CleaningPlan]:
    folder = make_idx_dataset(tmp_path / "src", TRAIN_X, TRAIN_Y, TEST_X, TEST_Y)
    source = IdxSource.from_folder(folder)
    raw = profile_batches(
        (b for s in source.splits() for b in source.iter_batches(s.name, 5)), source.shape
    )
    report = ValidationReport(
        stage="raw",
        results=[
            result("label_in_classes", Action.QUARANTINE, ["train/2"], ["label=11"]),
            result(
                "exact_duplicate",
                Action.DROP,
                ["train/7", "test/2"],
                ["duplicate_of=train/1", "duplicate_of=test/0"],
            ),
            result("unreadable_record", Action.QUARANTINE, ["train/7"], ["defect_unreadable=1"]),
            result(
                "inverted_image",
                Action.REPAIR,
                ["train/5", "test/1", "train/2"],
                ["a", "b", "c"],
                repair="invert",
            ),
        ],
    )
    return source, raw, plan_cleaning(raw.table["id"], report)


@pytest.fixture
def stored(tmp_path: Path) -> tuple[StoreResult, Path]:
    source, _, plan = build(tmp_path)
    out = tmp_path / "shards"
    res = write_dataset(
        source,
        plan,
        out,
        quarantine_path=tmp_path / "quarantine.parquet",
        shard_rows=4,
        batch_rows=5,
    )
    return res, out


def assert_quarantine_schema(schema: pa.Schema) -> None:
    """The quarantine schema, up to the name Parquet gives list items ("element")."""
    want = QUARANTINE_SCHEMA(H, W)
    assert schema.names == want.names == ["id", "split", "label", "image", "reasons", "details"]
    assert schema.metadata == want.metadata
    for got, exp in zip(schema, want, strict=True):
        assert got.nullable == exp.nullable, got.name
        if pa.types.is_list(exp.type):
            assert pa.types.is_list(got.type) and got.type.value_type == pa.string(), got.name
        else:
            assert got.type == exp.type, got.name
    assert want.field("label").nullable and not want.field("id").nullable


def read_split(out: Path, res: StoreResult, split: str) -> pa.Table:
    return pa.concat_tables([pq.read_table(p) for p in res.manifest.shard_paths(out, split)])


def expected_images(split: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The ids, images and labels that should be kept, with inversions applied, in id order."""
    x, y = (TRAIN_X, TRAIN_Y) if split == "train" else (TEST_X, TEST_Y)
    ids, images, labels = [], [], []
    for i in range(len(x)):
        rid = f"{split}/{i}"
        if rid in REMOVED:
            continue
        ids.append(rid)
        images.append(255 - x[i] if rid in INVERTED else x[i])
        labels.append(int(y[i]))
    return ids, np.stack(images), np.array(labels)


def test_shard_sizes_paths_and_compression(stored: tuple[StoreResult, Path]) -> None:
    res, out = stored
    shards = [(s.split, s.path, s.rows) for s in res.manifest.shards]
    assert shards == [
        ("train", "train/part-00000.parquet", 4),
        ("train", "train/part-00001.parquet", 4),
        ("train", "train/part-00002.parquet", 2),
        ("test", "test/part-00000.parquet", 2),
    ]
    for shard in res.manifest.shards:
        meta = pq.ParquetFile(out / shard.path).metadata
        assert meta.num_rows == shard.rows
        for rg in range(meta.num_row_groups):
            for col in range(meta.num_columns):
                assert meta.row_group(rg).column(col).compression == "ZSTD"


def test_schema_is_exactly_the_contract(stored: tuple[StoreResult, Path]) -> None:
    res, out = stored
    want = pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("split", pa.string(), nullable=False),
            pa.field("label", pa.int64(), nullable=False),
            pa.field("image", pa.binary(H * W), nullable=False),
        ],
        metadata={"dataqual.height": "5", "dataqual.width": "7", "dataqual.version": "1"},
    )
    assert shard_schema(H, W).equals(want, check_metadata=True)
    for path in res.manifest.shard_paths(out):
        schema = pq.read_schema(path)
        assert schema.equals(want, check_metadata=True), path
    assert (res.manifest.height, res.manifest.width) == (5, 7)


@pytest.mark.parametrize("split", ["train", "test"])
def test_kept_rows_are_byte_identical_in_id_order_with_repairs(
    stored: tuple[StoreResult, Path], split: str
) -> None:
    res, out = stored
    table = read_split(out, res, split)
    ids, images, labels = expected_images(split)
    assert table.column("id").to_pylist() == ids
    assert set(table.column("split").to_pylist()) == {split}
    assert table.column("label").to_pylist() == labels.tolist()
    got = table_images(table, H, W)
    assert got.tobytes() == images.tobytes()
    # the repaired rows really changed, the others are the source bytes
    for rid, pos in INVERTED.items():
        if rid.startswith(split):
            row = ids.index(rid)
            source = TRAIN_X if split == "train" else TEST_X
            assert np.array_equal(got[row], 255 - source[pos])
            assert not np.array_equal(got[row], source[pos])


def test_quarantine_holds_removed_rows_with_reasons_and_original_images(
    stored: tuple[StoreResult, Path], tmp_path: Path
) -> None:
    res, _ = stored
    assert res.quarantine_rows == 3
    assert res.quarantine_path == tmp_path / "quarantine.parquet"
    q = pq.read_table(res.quarantine_path)
    assert_quarantine_schema(q.schema)
    assert q.column("id").to_pylist() == ["train/2", "train/7", "test/2"]
    assert q.column("split").to_pylist() == ["train", "train", "test"]
    assert q.column("label").to_pylist() == [11, 7, 0]
    assert q.column("reasons").to_pylist() == [
        ["label_in_classes"],
        ["exact_duplicate", "unreadable_record"],
        ["exact_duplicate"],
    ]
    assert q.column("details").to_pylist() == [
        ["label=11"],
        ["duplicate_of=train/1", "defect_unreadable=1"],
        ["duplicate_of=test/0"],
    ]
    # original pixels, not inverted even though train/2 was also up for an inversion
    want = np.stack([TRAIN_X[2], TRAIN_X[7], TEST_X[2]])
    assert table_images(q, H, W).tobytes() == want.tobytes()


def test_manifest_counts_and_checksums(stored: tuple[StoreResult, Path]) -> None:
    res, out = stored
    _, _, train_labels = expected_images("train")
    assert res.manifest.splits["train"].rows == 10
    assert res.manifest.splits["test"].rows == 2
    assert res.manifest.splits["train"].label_counts == {
        str(k): v for k, v in sorted(Counter(train_labels.tolist()).items())
    }
    assert res.manifest.splits["train"].label_counts == {
        "0": 1,
        "1": 3,
        "3": 1,
        "4": 1,
        "5": 1,
        "6": 1,
        "8": 1,
        "9": 1,
    }
    assert res.manifest.splits["test"].label_counts == {"2": 2}
    for shard in res.manifest.shards:
        assert shard.sha256 == hashlib.sha256((out / shard.path).read_bytes()).hexdigest()
    assert res.manifest.verify(out) == []


@pytest.mark.parametrize("workers", [1, 2, 5])
def test_worker_count_does_not_change_a_byte(
    stored: tuple[StoreResult, Path], tmp_path: Path, workers: int
) -> None:
    source, _, plan = build(tmp_path / "again")
    res = write_dataset(
        source,
        plan,
        tmp_path / f"shards-{workers}",
        quarantine_path=tmp_path / f"q-{workers}.parquet",
        shard_rows=4,
        batch_rows=5,
        workers=workers,
    )
    assert res.manifest.shards == stored[0].manifest.shards
    q = (tmp_path / f"q-{workers}.parquet").read_bytes()
    assert q == (tmp_path / "quarantine.parquet").read_bytes()


def test_no_temporary_files_are_left(stored: tuple[StoreResult, Path], tmp_path: Path) -> None:
    res, _ = stored
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert not [f for f in files if f.endswith(".tmp") or "/." in f or f.startswith(".")]
    assert [f for f in files if f.startswith("shards/")] == [
        "shards/" + s.path for s in sorted(res.manifest.shards, key=lambda s: s.path)
    ]


def test_cleaned_profile_describes_exactly_the_bytes_written(
    stored: tuple[StoreResult, Path], tmp_path: Path
) -> None:
    """The cleaned profile is derived before the store pass (so the two can run at once):
    it must equal a fresh profile of what the shards hold."""
    res, out = stored
    source, raw, plan = build(tmp_path / "again")
    cleaned = cleaned_profile(raw, plan, source, batch_rows=5)
    train_ids, _, _ = expected_images("train")
    test_ids, _, _ = expected_images("test")
    assert cleaned.table["id"].tolist() == train_ids + test_ids
    assert tuple(cleaned.table.columns) == PROFILE_COLUMNS
    assert cleaned.shape == (H, W)
    assert cleaned.thumbs.shape == (12, 196)
    for split, ids in (("train", train_ids), ("test", test_ids)):
        shards = read_split(out, res, split)
        assert shards.column("id").to_pylist() == ids
        images = table_images(shards, H, W)
        fresh = profile_batch(_batch(split, ids, images))
        mine = cleaned.table[cleaned.table["split"] == split].reset_index(drop=True)
        for column in ("mean", "std", "border_mean", "ink_fraction", "content_hash", "bbox_height"):
            assert mine[column].tolist() == fresh[column].tolist(), (split, column)
        assert (
            cleaned.thumbs[cleaned.table["split"].to_numpy() == split] == thumbnails(images)
        ).all()
    row = train_ids.index("train/5")
    mine = cleaned.table[cleaned.table["split"] == "train"].reset_index(drop=True)
    assert mine["mean"].iloc[row] == pytest.approx(255 - TRAIN_X[5].mean(), rel=1e-5)


def test_cleaned_profile_without_pixel_repairs_does_not_read_the_source(tmp_path: Path) -> None:
    source, raw, plan = build(tmp_path)
    no_repair = CleaningPlan(
        ids=plan.ids,
        remove=plan.remove,
        repair=plan.repair,
        repairs={},
        reasons=plan.reasons,
        details=plan.details,
    )

    class Unreadable:
        shape = source.shape

        def splits(self) -> list[SplitInfo]:
            return source.splits()

        def iter_batches(self, split: str, rows: int = 5) -> Iterator[ImageBatch]:
            raise AssertionError("read the source")

    cleaned = cleaned_profile(raw, no_repair, Unreadable(), batch_rows=5)  # type: ignore[arg-type]
    kept = raw.table[~plan.remove[plan.rows_for(raw.table["id"].to_numpy(str))]]
    assert cleaned.table["id"].tolist() == kept["id"].tolist()
    assert cleaned.table["mean"].tolist() == kept["mean"].tolist()


def _batch(split: str, ids: list[str], images: np.ndarray) -> ImageBatch:
    return ImageBatch(
        split=split,
        ids=np.array(ids),
        labels=np.zeros(len(ids), np.int64),
        images=images,
        positions=np.array([int(i.split("/")[1]) for i in ids]),
    )


def test_nothing_removed_writes_an_empty_quarantine(tmp_path: Path) -> None:
    source, raw, _ = build(tmp_path)
    plan = plan_cleaning(raw.table["id"], ValidationReport(stage="raw", results=[]))
    res = write_dataset(
        source,
        plan,
        tmp_path / "out",
        quarantine_path=tmp_path / "q.parquet",
        shard_rows=6,
        batch_rows=4,
    )
    assert [s.rows for s in res.manifest.shards] == [6, 6, 3]
    assert res.quarantine_rows == 0
    q = pq.read_table(tmp_path / "q.parquet")
    assert q.num_rows == 0
    assert_quarantine_schema(q.schema)
    train = read_split(tmp_path / "out", res, "train")
    assert table_images(train, H, W).tobytes() == TRAIN_X.tobytes()


def test_failure_midway_leaves_no_temporary_or_quarantine_file(tmp_path: Path) -> None:
    source, _, plan = build(tmp_path)
    # a plan that does not know the test split: the store fails when it reaches it
    train_only = CleaningPlan(
        ids=plan.ids[:12],
        remove=plan.remove[:12],
        repair=plan.repair[:12],
        repairs=plan.repairs_at(np.arange(12)),
        reasons=plan.reasons,
        details=plan.details,
    )
    with pytest.raises(KeyError, match="not in the cleaning plan"):
        write_dataset(
            source,
            train_only,
            tmp_path / "out",
            quarantine_path=tmp_path / "q.parquet",
            shard_rows=4,
            batch_rows=5,
        )
    assert not (tmp_path / "q.parquet").exists()
    leftovers = [p.name for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


class MemorySource:
    """An in-memory ImageSource whose second row has no label (as CSV or image readers give)."""

    description = "memory"
    shape = (H, W)

    def __init__(self) -> None:
        self.images = TRAIN_X[:3]
        self.labels = np.array([4, MISSING_LABEL, 6], np.int64)

    def splits(self) -> list[SplitInfo]:
        return [SplitInfo("train", 3)]

    def files(self) -> list[Path]:
        return []

    def iter_batches(self, split: str, rows: int = 2) -> Iterator[ImageBatch]:
        for start in range(0, 3, rows):
            stop = min(start + rows, 3)
            yield ImageBatch(
                split=split,
                ids=position_ids(split, start, stop),
                labels=self.labels[start:stop],
                images=self.images[start:stop],
                positions=np.arange(start, stop),
            )


def test_missing_label_is_null_in_quarantine(tmp_path: Path) -> None:
    source = MemorySource()
    assert isinstance(source, ImageSource)
    raw = profile_batches(source.iter_batches("train"), source.shape)
    report = ValidationReport(
        stage="raw",
        results=[result("label_missing", Action.QUARANTINE, ["train/1"], ["label=<NA>"])],
    )
    plan = plan_cleaning(raw.table["id"], report)
    res = write_dataset(
        source, plan, tmp_path / "out", quarantine_path=tmp_path / "q.parquet", batch_rows=2
    )
    q = pq.read_table(tmp_path / "q.parquet")
    assert q.column("id").to_pylist() == ["train/1"]
    assert q.column("label").to_pylist() == [None]
    assert table_images(q, H, W).tobytes() == TRAIN_X[1].tobytes()
    kept = read_split(tmp_path / "out", res, "train")
    assert kept.column("label").to_pylist() == [4, 6]
    assert res.manifest.splits["train"].label_counts == {"4": 1, "6": 1}
