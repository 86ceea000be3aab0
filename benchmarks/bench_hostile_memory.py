"""Benchmark: small hostile inputs (each under 10 MB on disk) against peak memory and time.

Each case is built in a temporary folder, then ``dataqual run --no-train --source X --out Y``
runs in its own process; its peak RSS (``os.wait4``: the process and the children it waited
for) and wall time are measured. Goal (issue 8): every case under 1.5 GB and 60 s, with exit
code 0, 1 or 2 (handled), never 3 (internal error) or a kill.

    python benchmarks/bench_hostile_memory.py [--only NAME ...] [--timeout 300]
                                              [--markdown]

Cases: IDX of 512x512 and 1024x1024 images (refused by the default ``--max-image-side 256``,
then run again with the limit raised), a Fortran-ordered npz, a compressed npz of 1,000,000
all-zero images, 30,000 near-identical images, and a Parquet file whose metadata claims
images 10^6 pixels high. Large members are written in pieces, so building a case never holds
its decompressed data.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.lib.format as npformat
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
DATAQUAL = REPO / ".venv" / "bin" / "dataqual"
LIMIT_BYTES = int(1.5 * 2**30)
LIMIT_SECONDS = 60.0


def _digit(side: int, rng: np.random.Generator) -> np.ndarray:
    """A bright random rectangle stroke on black: distinct, compressible images."""
    img = np.zeros((side, side), np.uint8)
    r, c = rng.integers(side // 8, side // 2, 2)
    h, w = rng.integers(side // 8, side // 3, 2)
    img[r : r + h, c : c + w // 4] = 255
    img[r : r + h // 4, c : c + w] = 255
    return img


def _idx(folder: Path, side: int, n_train: int, n_test: int) -> Path:
    """A gzipped IDX folder (train + t10k) of ``side`` x ``side`` stroke images."""
    folder.mkdir()
    rng = np.random.default_rng(side)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb", compresslevel=9) as f:
            f.write(struct.pack(">IIII", 0x803, n, side, side))
            for _ in range(n):
                f.write(_digit(side, rng).tobytes())
        labels = (np.arange(n) % 10).astype(np.uint8)
        with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb", compresslevel=9) as f:
            f.write(struct.pack(">II", 0x801, n) + labels.tobytes())
    return folder


def _npy_member(
    zf: zipfile.ZipFile,
    key: str,
    shape: tuple[int, ...],
    dtype: str,
    fortran: bool,
    pieces: Iterator[bytes],
) -> None:
    """Write ``key.npy`` into ``zf`` from a header and data pieces (never whole in memory)."""
    head = io.BytesIO()
    npformat.write_array_header_1_0(
        head, {"descr": dtype, "fortran_order": fortran, "shape": shape}
    )
    with zf.open(f"{key}.npy", "w", force_zip64=True) as f:
        f.write(head.getvalue())
        for piece in pieces:
            f.write(piece)


def _zeros(nbytes: int, piece: int = 16 << 20) -> Iterator[bytes]:
    block = bytes(piece)
    for start in range(0, nbytes, piece):
        yield block[: min(piece, nbytes - start)]


def _npz_zero_images(path: Path, n: int, fortran: bool) -> Path:
    """A deflated npz of ``n`` all-zero 28x28 images (x_train; ``fortran``: column-major)."""
    labels = (np.arange(n) % 10).astype(np.uint8)
    test = np.zeros((100, 28, 28), np.uint8)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        _npy_member(zf, "x_train", (n, 28, 28), "|u1", fortran, _zeros(n * 784))
        _npy_member(zf, "y_train", (n,), "|u1", False, iter([labels.tobytes()]))
        _npy_member(zf, "x_test", test.shape, "|u1", False, iter([test.tobytes()]))
        _npy_member(zf, "y_test", (100,), "|u1", False, iter([labels[:100].tobytes()]))
    return path


def _near_identical(path: Path, n: int = 30_000) -> Path:
    """``n`` training images that differ from one stroke image by +-1 on a few ink pixels."""
    rng = np.random.default_rng(3)
    base = _digit(28, rng)
    x = np.repeat(base[None], n, axis=0)
    ink = np.flatnonzero(base.ravel())
    flat = x.reshape(n, -1)
    for k in range(3):  # three changed ink pixels per image: all distinct, all near
        flat[np.arange(n), ink[rng.integers(0, len(ink), n)]] -= np.uint8(1 + k)
    y = np.full(n, 3, np.uint8)
    y_test = np.arange(200, dtype=np.uint8) % 10
    x_test = np.stack([_digit(28, rng) for _ in range(200)])
    np.savez_compressed(path, x_train=x, y_train=y, x_test=x_test, y_test=y_test)
    return path


def _parquet_tall(path: Path) -> Path:
    """A shard-like Parquet file whose metadata claims images 10^6 pixels high."""
    table = pa.table(
        {
            "id": [f"train/{i}" for i in range(4)],
            "split": ["train"] * 4,
            "label": pa.array([1, 2, 3, 4], pa.int64()),
            "image": pa.array([bytes(784)] * 4, pa.binary(784)),
        }
    ).replace_schema_metadata({"dataqual.height": "1000000", "dataqual.width": "28"})
    pq.write_table(table, path)
    return path


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path], Path]
    args: tuple[str, ...] = ()
    expect: str = ""


CASES = [
    Case("idx-512x512", lambda d: _idx(d / "idx512", 512, 150, 30), (), "2: refused (side 256)"),
    Case(
        "idx-512x512 --max-image-side 512",
        lambda d: _idx(d / "idx512", 512, 150, 30),
        ("--max-image-side", "512"),
        "0/1, bounded",
    ),
    Case("idx-1024x1024", lambda d: _idx(d / "idx1024", 1024, 40, 10), (), "2: refused (side 256)"),
    Case(
        "idx-1024x1024 --max-image-side 1024",
        lambda d: _idx(d / "idx1024", 1024, 40, 10),
        ("--max-image-side", "1024"),
        "0/1, bounded",
    ),
    Case(
        "npz Fortran order, 1,000,000 images",
        lambda d: _npz_zero_images(d / "fortran.npz", 1_000_000, fortran=True),
        (),
        "2: refused, says how to fix",
    ),
    Case(
        "npz deflated, 1,000,000 zero images",
        lambda d: _npz_zero_images(d / "zeros.npz", 1_000_000, fortran=False),
        (),
        "2: refused (expansion 1,029x)",
    ),
    Case(
        "npz 30,000 near-identical images",
        lambda d: _near_identical(d / "near.npz"),
        (),
        "0/1: near duplicates flagged",
    ),
    Case(
        "parquet claiming height 10^6",
        lambda d: _parquet_tall(d / "tall.parquet"),
        (),
        "2: refused",
    ),
]


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_case(case: Case, work: Path, timeout: float) -> dict[str, object]:
    """Build ``case`` and run the CLI on it; peak RSS of the process tree via ``wait4``."""
    folder = Path(tempfile.mkdtemp(dir=work))
    try:
        source = case.build(folder)
        env = dict(
            os.environ,
            DATAQUAL_PREFECT_HOME=str(folder / "prefect"),
            GX_ANALYTICS_ENABLED="false",
            DO_NOT_TRACK="1",
            TF_CPP_MIN_LOG_LEVEL="2",
        )
        cmd = [
            str(DATAQUAL),
            "run",
            "--no-train",
            "--source",
            str(source),
            "--out",
            str(folder / "out"),
            *case.args,
        ]
        log = (folder / "log").open("wb")
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        status, usage, killed = None, None, False
        while status is None:
            pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status, usage = st, ru
            elif time.perf_counter() - start > timeout and not killed:
                os.killpg(proc.pid, signal.SIGKILL)  # not proc.kill(): it would reap the child
                killed = True
            else:
                time.sleep(0.05)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped by wait4
        log.close()
        tail = (folder / "log").read_text(errors="replace").strip().splitlines()
        return {
            "case": case.name,
            "size": _size(source),
            "exit": "killed (timeout)" if killed else proc.returncode,
            "seconds": seconds,
            "peak": usage.ru_maxrss * 1024,
            "expect": case.expect,
            "last": tail[-1][:160] if tail else "",
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _ok(r: dict[str, object]) -> bool:
    return (
        r["exit"] in (0, 1, 2)
        and int(r["peak"]) < LIMIT_BYTES  # type: ignore[arg-type]
        and float(r["seconds"]) < LIMIT_SECONDS  # type: ignore[arg-type]
    )


def table(results: list[dict[str, object]]) -> str:
    lines = [
        "| case | on disk | exit | wall s | peak RSS MiB | expected | within 1.5 GB / 60 s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        size = int(r["size"])  # type: ignore[arg-type]
        shown = f"{size / 2**20:.2f} MB" if size >= 2**20 else f"{size / 1024:.0f} KB"
        lines.append(
            f"| {r['case']} | {shown} | {r['exit']} | {float(r['seconds']):.1f} | "  # type: ignore[arg-type]
            f"{int(r['peak']) / 2**20:.0f} | {r['expect']} | {'yes' if _ok(r) else '**no**'} |"  # type: ignore[arg-type]
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", help="run the cases whose name contains one of these")
    parser.add_argument("--timeout", type=float, default=300.0, help="kill a run after this")
    args = parser.parse_args()
    cases = [c for c in CASES if not args.only or any(o in c.name for o in args.only)]
    results = []
    with tempfile.TemporaryDirectory(prefix="dataqual-hostile-") as work:
        for case in cases:
            r = run_case(case, Path(work), args.timeout)
            results.append(r)
            print(
                f"{r['case']}: exit {r['exit']}, {float(r['seconds']):.1f} s, "  # type: ignore[arg-type]
                f"{int(r['peak']) / 2**20:.0f} MiB | {r['last']}",  # type: ignore[arg-type]
                file=sys.stderr,
                flush=True,
            )
    print(table(results))
    return 0 if all(_ok(r) for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
