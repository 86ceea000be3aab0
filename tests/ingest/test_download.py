"""fetch_dataset against a real HTTP server on 127.0.0.1 that we make misbehave on purpose."""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from dataqual.errors import ConfigError, DownloadError
from dataqual.ingest import download, fetch_cache
from dataqual.ingest.download import DownloadSettings, fetch_dataset, file_urls
from dataqual.ingest.idx import IdxSource
from dataqual.ingest.registry import DatasetFile, DatasetInfo

SHARED = Path("/work/shared/datasets")
TRAIN_ROWS, TEST_ROWS = 40, 10
TRAIN_IMAGES = "train-images-idx3-ubyte.gz"


# --------------------------------------------------------------------------- fake dataset


def _idx_gz(array: np.ndarray) -> bytes:
    magic = 0x0803 if array.ndim == 3 else 0x0801
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


def _tiny_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    out = {}
    for prefix, rows in (("train", TRAIN_ROWS), ("t10k", TEST_ROWS)):
        out[f"{prefix}-images-idx3-ubyte.gz"] = _idx_gz(rng.integers(0, 256, (rows, 28, 28)))
        out[f"{prefix}-labels-idx1-ubyte.gz"] = _idx_gz(np.arange(rows) % 10)
    return out


FILES = _tiny_files()


def _tiny_info(base: str, *, templates: tuple[str, ...] = ("{base}/tiny/{file}",)) -> DatasetInfo:
    """A test-only dataset whose checksums are those of FILES, served from ``base``."""
    return DatasetInfo(
        name="tiny",
        description="test-only MNIST-shaped dataset",
        license="test",
        homepage=f"{base}/",
        files=tuple(
            DatasetFile(
                name=name,
                urls=tuple(t.format(base=base, file=name) for t in templates),
                sha256=hashlib.sha256(data).hexdigest(),
                size=len(data),
            )
            for name, data in FILES.items()
        ),
        class_names=tuple(str(i) for i in range(10)),
        image_shape=(28, 28),
        split_rows={"train": TRAIN_ROWS, "test": TEST_ROWS},
    )


# --------------------------------------------------------------------------- server


@dataclass
class Behaviour:
    """What the server does, per file name: ``ok``, ``drop_first`` (cut the first transfer
    in half), ``hang`` (never answer), ``error500``, ``corrupt`` (right size, wrong bytes),
    ``no_range`` (ignore Range headers), ``too_big``. Unknown paths get 404."""

    modes: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, name: str | None = None) -> int:
        return sum(1 for path, _ in self.requests if name is None or path.endswith("/" + name))


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        b = self.server.behaviour
        rng = self.headers.get("Range")
        with b.lock:
            b.requests.append((self.path, rng))
            seen = b.count(self.path.rsplit("/", 1)[-1])
        name = self.path.rsplit("/", 1)[-1]
        if not self.path.startswith("/tiny/") or name not in FILES:
            self.send_error(404, "Not Found")
            return
        data, mode = FILES[name], b.modes.get(name, "ok")
        if mode == "hang":
            b.release.wait(5)  # bounded: the fixture releases it on teardown
            return
        if mode == "error500":
            self.send_error(500, "Internal Server Error")
            return
        if mode == "corrupt":
            data = bytes(len(data))
        if mode == "too_big":
            data = data + b"\0" * 100
        start = 0
        if rng and mode != "no_range":
            start = int(rng.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("Connection", "close")
        self.end_headers()
        if mode == "drop_first" and seen == 1:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(data[start:])


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    behaviour: Behaviour


@dataclass
class Served:
    base: str
    behaviour: Behaviour
    info: DatasetInfo


@pytest.fixture
def served() -> Iterator[Served]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.behaviour = Behaviour()
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield Served(base, server.behaviour, _tiny_info(base))
    finally:
        server.behaviour.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "DATAQUAL_CACHE_DIR",
        "DATAQUAL_MIRROR",
        "DATAQUAL_DOWNLOAD_BASE_URL",
        "DATAQUAL_OFFLINE",
    ):
        monkeypatch.delenv(var, raising=False)


def _fast(tmp_path: Path, **kw: object) -> dict[str, object]:
    return {
        "cache_dir": tmp_path / "cache",
        "timeout": 2.0,
        "retries": 0,
        "settings": DownloadSettings(cache_dir=tmp_path / "cache", backoff=0.0),
        **kw,
    }


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- tests


def test_download_verifies_and_opens(served: Served, tmp_path: Path) -> None:
    folder = fetch_dataset(served.info, **_fast(tmp_path))
    assert folder == tmp_path / "cache" / "tiny"
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == sorted(FILES)
    for name, data in FILES.items():
        assert (folder / name).read_bytes() == data
    assert not list(folder.glob("*.part")) and not list(folder.glob("*.bad"))
    src = IdxSource.from_folder(folder)
    rows = {s.name: s.declared_rows for s in src.splits()}
    assert rows == {"train": TRAIN_ROWS, "test": TEST_ROWS}
    assert served.behaviour.count() == 4


def test_cache_hit_makes_no_request_and_no_rehash(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetch_dataset(served.info, **_fast(tmp_path))
    assert served.behaviour.count() == 4
    hashed: list[Path] = []
    real = download.sha256_file
    monkeypatch.setattr(fetch_cache, "sha256_file", lambda p: hashed.append(p) or real(p))
    folder = fetch_dataset(served.info, **_fast(tmp_path))
    assert served.behaviour.count() == 4, "a cache hit must not touch the network"
    assert hashed == [], "unchanged files are trusted from the .verified.json marker"
    assert fetch_dataset(served.info, **_fast(tmp_path, offline=True)) == folder


def test_corrupted_cache_file_is_set_aside_and_fetched_again(
    served: Served, tmp_path: Path
) -> None:
    folder = fetch_dataset(served.info, **_fast(tmp_path))
    target = folder / TRAIN_IMAGES
    target.write_bytes(bytes(target.stat().st_size))  # same size, new content and mtime
    fetch_dataset(served.info, **_fast(tmp_path))
    assert target.read_bytes() == FILES[TRAIN_IMAGES]
    assert (folder / (TRAIN_IMAGES + ".bad")).exists()
    assert served.behaviour.count(TRAIN_IMAGES) == 2


def test_resume_after_truncated_transfer(served: Served, tmp_path: Path) -> None:
    served.behaviour.modes[TRAIN_IMAGES] = "drop_first"
    folder = fetch_dataset(served.info, **_fast(tmp_path, retries=2))
    assert (folder / TRAIN_IMAGES).read_bytes() == FILES[TRAIN_IMAGES]
    tries = [r for p, r in served.behaviour.requests if p.endswith(TRAIN_IMAGES)]
    assert tries == [None, f"bytes={len(FILES[TRAIN_IMAGES]) // 2}-"]


def test_resume_of_existing_part_file(served: Served, tmp_path: Path) -> None:
    folder = tmp_path / "cache" / "tiny"
    folder.mkdir(parents=True)
    data = FILES[TRAIN_IMAGES]
    (folder / (TRAIN_IMAGES + ".part")).write_bytes(data[:100])
    fetch_dataset(served.info, **_fast(tmp_path))
    assert (folder / TRAIN_IMAGES).read_bytes() == data
    assert ("/tiny/" + TRAIN_IMAGES, "bytes=100-") in served.behaviour.requests


def test_server_ignoring_range_restarts_from_zero(served: Served, tmp_path: Path) -> None:
    folder = tmp_path / "cache" / "tiny"
    folder.mkdir(parents=True)
    (folder / (TRAIN_IMAGES + ".part")).write_bytes(b"garbage")
    served.behaviour.modes[TRAIN_IMAGES] = "no_range"
    fetch_dataset(served.info, **_fast(tmp_path))
    assert (folder / TRAIN_IMAGES).read_bytes() == FILES[TRAIN_IMAGES]


def test_stale_part_with_wrong_bytes_is_retried_from_scratch(
    served: Served, tmp_path: Path
) -> None:
    folder = tmp_path / "cache" / "tiny"
    folder.mkdir(parents=True)
    (folder / (TRAIN_IMAGES + ".part")).write_bytes(b"x" * 50)  # resumed, then fails sha256
    fetch_dataset(served.info, **_fast(tmp_path, retries=0))
    assert (folder / TRAIN_IMAGES).read_bytes() == FILES[TRAIN_IMAGES]
    assert served.behaviour.count(TRAIN_IMAGES) == 2
    assert (folder / (TRAIN_IMAGES + ".bad")).read_bytes().startswith(b"x" * 50)


def test_wrong_checksum_is_an_error_and_leaves_no_valid_looking_file(
    served: Served, tmp_path: Path
) -> None:
    served.behaviour.modes[TRAIN_IMAGES] = "corrupt"
    with pytest.raises(DownloadError, match="does not match the pinned") as err:
        fetch_dataset(served.info, **_fast(tmp_path, retries=3))
    folder = tmp_path / "cache" / "tiny"
    assert not (folder / TRAIN_IMAGES).exists()
    assert not (folder / (TRAIN_IMAGES + ".part")).exists()
    assert (folder / (TRAIN_IMAGES + ".bad")).exists()
    assert served.info.file(TRAIN_IMAGES).sha256 in str(err.value)
    assert served.behaviour.count(TRAIN_IMAGES) == 1, "a fresh wrong copy is not retried"


def test_oversized_response_is_refused(served: Served, tmp_path: Path) -> None:
    served.behaviour.modes[TRAIN_IMAGES] = "too_big"
    with pytest.raises(DownloadError, match="expected"):
        fetch_dataset(served.info, **_fast(tmp_path))
    assert not (tmp_path / "cache" / "tiny" / TRAIN_IMAGES).exists()


def test_404_names_the_url(served: Served, tmp_path: Path) -> None:
    info = _tiny_info(served.base, templates=("{base}/missing/{file}",))
    with pytest.raises(DownloadError) as err:
        fetch_dataset(info, **_fast(tmp_path, retries=3))
    message = str(err.value)
    assert "HTTP 404" in message
    assert f"{served.base}/missing/train-images-idx3-ubyte.gz" in message
    assert served.behaviour.count() == 1, "404 is not retried, and later files are not tried"


def test_hanging_server_times_out(served: Served, tmp_path: Path) -> None:
    served.behaviour.modes[TRAIN_IMAGES] = "hang"
    start = time.monotonic()
    with pytest.raises(DownloadError, match="timed out") as err:
        fetch_dataset(served.info, **_fast(tmp_path, timeout=0.5, retries=1))
    elapsed = time.monotonic() - start
    assert elapsed < 3.0, f"two 0.5 s attempts took {elapsed:.1f} s"
    assert served.behaviour.count(TRAIN_IMAGES) == 2
    assert "attempt 2" in str(err.value)


def test_retries_are_counted_then_fallback_url_used(served: Served, tmp_path: Path) -> None:
    served.behaviour.modes[TRAIN_IMAGES] = "error500"
    with pytest.raises(DownloadError, match="HTTP 500"):
        fetch_dataset(served.info, **_fast(tmp_path, retries=2))
    assert served.behaviour.count(TRAIN_IMAGES) == 3  # 1 attempt + 2 retries

    info = _tiny_info(served.base, templates=("{base}/missing/{file}", "{base}/tiny/{file}"))
    served.behaviour.modes.clear()
    folder = fetch_dataset(info, **_fast(tmp_path, retries=2))
    assert (folder / TRAIN_IMAGES).read_bytes() == FILES[TRAIN_IMAGES]


def test_backoff_between_retries(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(download.time, "sleep", sleeps.append)
    served.behaviour.modes[TRAIN_IMAGES] = "error500"
    settings = DownloadSettings(cache_dir=tmp_path, retries=3, backoff=0.5, max_backoff=1.5)
    with pytest.raises(DownloadError):
        fetch_dataset(served.info, settings=settings)
    assert sleeps == [0.5, 1.0, 1.5]


def test_offline_without_mirror_says_what_to_download_and_where(
    served: Served, tmp_path: Path
) -> None:
    with pytest.raises(DownloadError) as err:
        fetch_dataset(served.info, **_fast(tmp_path, offline=True))
    message = str(err.value)
    assert "offline" in message and "no mirror" in message
    for f in served.info.files:
        assert f.name in message and f.urls[0] in message and f.sha256 in message
    assert str(tmp_path / "cache" / "tiny") in message
    assert "DATAQUAL_MIRROR" in message
    assert served.behaviour.count() == 0


def test_unreachable_network_lists_every_missing_file(tmp_path: Path) -> None:
    info = _tiny_info(f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(DownloadError, match="cannot connect") as err:
        fetch_dataset(info, **_fast(tmp_path, retries=1))
    message = str(err.value)
    assert all(f.urls[0] in message for f in info.files)
    assert "4 of 4 files are missing" in message


def test_base_url_override(served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = _tiny_info("http://unused.invalid")
    folder = fetch_dataset(info, **_fast(tmp_path, base_url=served.base + "/{name}/"))
    assert (folder / TRAIN_IMAGES).read_bytes() == FILES[TRAIN_IMAGES]

    monkeypatch.setenv("DATAQUAL_DOWNLOAD_BASE_URL", served.base + "/tiny")
    monkeypatch.setenv("DATAQUAL_CACHE_DIR", str(tmp_path / "env-cache"))
    folder = fetch_dataset(info, retries=0)
    assert folder == tmp_path / "env-cache" / "tiny"
    assert served.behaviour.count() == 8


def test_file_urls_templates() -> None:
    info = _tiny_info("http://a.example")
    f = info.files[0]
    assert file_urls(info, f) == list(f.urls)
    assert file_urls(info, f, "http://m/x/") == [f"http://m/x/{f.name}"]
    assert file_urls(info, f, "http://m/{name}/v1/{file}") == [f"http://m/tiny/v1/{f.name}"]


def test_flat_mirror_is_copied_not_modified(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name, data in FILES.items():
        (mirror / name).write_bytes(data)
    before = {p.name: p.stat().st_mtime_ns for p in mirror.iterdir()}
    info = _tiny_info(f"http://127.0.0.1:{_closed_port()}")
    folder = fetch_dataset(info, **_fast(tmp_path, mirror=mirror))
    assert folder == tmp_path / "cache" / "tiny"
    assert {p.name: p.stat().st_mtime_ns for p in mirror.iterdir()} == before
    assert IdxSource.from_folder(folder).splits()[0].declared_rows == TRAIN_ROWS


def test_bad_mirror_file_falls_back_to_download(served: Served, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror" / "tiny"
    mirror.mkdir(parents=True)
    for name, data in FILES.items():
        (mirror / name).write_bytes(data if name != TRAIN_IMAGES else bytes(len(data)))
    folder = fetch_dataset(served.info, **_fast(tmp_path, mirror=mirror.parent))
    assert (folder / TRAIN_IMAGES).read_bytes() == FILES[TRAIN_IMAGES]
    assert served.behaviour.count() == 1


def test_unwritable_cache_is_a_download_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_access = os.access
    monkeypatch.setattr(
        download.os, "access", lambda p, mode: mode != os.W_OK and real_access(p, mode)
    )
    info = _tiny_info("http://127.0.0.1:1")
    with pytest.raises(DownloadError, match=r"not writable.*DATAQUAL_CACHE_DIR"):
        fetch_dataset(info, **_fast(tmp_path))


def test_missing_mirror_folder_is_a_config_error(tmp_path: Path) -> None:
    info = _tiny_info("http://127.0.0.1:1")
    with pytest.raises(ConfigError, match="mirror folder"):
        fetch_dataset(info, **_fast(tmp_path, mirror=tmp_path / "nope"))


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared datasets not available")
@pytest.mark.parametrize("name", ["fashion-mnist", "mnist"])
def test_shared_folder_as_mirror(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATAQUAL_MIRROR", str(SHARED))
    folder = fetch_dataset(name, cache_dir=tmp_path, offline=True)
    assert folder == tmp_path / name
    src = IdxSource.from_folder(folder)
    assert {s.name: s.declared_rows for s in src.splits()} == {"train": 60_000, "test": 10_000}
    assert src.shape == (28, 28)


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert DownloadSettings.from_env({}).cache_dir == Path.home() / ".cache" / "dataqual"
    env = {
        "DATAQUAL_CACHE_DIR": str(tmp_path),
        "DATAQUAL_MIRROR": str(SHARED),
        "DATAQUAL_DOWNLOAD_BASE_URL": "http://127.0.0.1:9/",
        "DATAQUAL_OFFLINE": "yes",
    }
    s = DownloadSettings.from_env(env, retries=7, timeout=None)
    assert (s.cache_dir, s.mirror, s.base_url, s.offline) == (
        tmp_path,
        SHARED,
        "http://127.0.0.1:9/",
        True,
    )
    assert (s.retries, s.timeout) == (7, 30.0)
    with pytest.raises(ConfigError, match="DATAQUAL_OFFLINE"):
        DownloadSettings.from_env({"DATAQUAL_OFFLINE": "maybe"})
    with pytest.raises(ConfigError, match="invalid download settings"):
        DownloadSettings.from_env({}, timeout=-1)


def test_unknown_dataset_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="known datasets: fashion-mnist, kmnist, mnist"):
        fetch_dataset("nmist", cache_dir=tmp_path, offline=True)
