"""The pinned well-known datasets (MNIST, Fashion-MNIST, KMNIST): official URLs, sha256 and
sizes of every file, and the expected counts. See :mod:`dataqual.ingest.registry` for the
provenance of every checksum."""

from __future__ import annotations

from collections.abc import Iterable

from dataqual.ingest.dataset_info import DatasetFile, DatasetInfo

__all__ = ["FASHION_MNIST", "KMNIST", "MNIST"]


def _files(
    templates: Iterable[str],
    specs: Iterable[tuple[str, int, str, int | None, str | None]],
) -> tuple[DatasetFile, ...]:
    """Build the file list from URL templates (``{file}`` = file name) and
    ``(name, size, sha256, raw_size, raw_sha256)`` specs."""
    templates = tuple(templates)
    return tuple(
        DatasetFile(
            name=name,
            urls=tuple(t.format(file=name) for t in templates),
            size=size,
            sha256=sha,
            raw_size=raw_size,
            raw_sha256=raw_sha,
        )
        for name, size, sha, raw_size, raw_sha in specs
    )


# Uncompressed sizes of 28x28 IDX files: 16-byte image header / 8-byte label header.
_RAW_TRAIN_IMAGES, _RAW_TRAIN_LABELS = 16 + 60_000 * 784, 8 + 60_000
_RAW_TEST_IMAGES, _RAW_TEST_LABELS = 16 + 10_000 * 784, 8 + 10_000

MNIST = DatasetInfo(
    name="mnist",
    description="MNIST: 70,000 28x28 grayscale images of handwritten digits 0-9.",
    license="CC BY-SA 3.0 (Yann LeCun, Corinna Cortes, Christopher J.C. Burges; from NIST data)",
    homepage="http://yann.lecun.com/exdb/mnist/",
    # The official site (yann.lecun.com) now often refuses downloads, so it comes last.
    files=_files(
        (
            "https://storage.googleapis.com/cvdf-datasets/mnist/{file}",
            "https://ossci-datasets.s3.amazonaws.com/mnist/{file}",
            "http://yann.lecun.com/exdb/mnist/{file}",
        ),
        # sha256 of the gz: sha256sum of /work/shared/datasets/mnist (= tfds mnist.txt);
        # raw sha256: /work/shared/datasets/README.md (= zcat | sha256sum).
        (
            (
                "train-images-idx3-ubyte.gz",
                9_912_422,
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                _RAW_TRAIN_IMAGES,
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            ),
            (
                "train-labels-idx1-ubyte.gz",
                28_881,
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                _RAW_TRAIN_LABELS,
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            ),
            (
                "t10k-images-idx3-ubyte.gz",
                1_648_877,
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                _RAW_TEST_IMAGES,
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            ),
            (
                "t10k-labels-idx1-ubyte.gz",
                4_542,
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                _RAW_TEST_LABELS,
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            ),
        ),
    ),
    class_names=tuple(str(d) for d in range(10)),
    image_shape=(28, 28),
    split_rows={"train": 60_000, "test": 10_000},
    label_counts={
        "train": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
        "test": (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
    },
)

FASHION_MNIST = DatasetInfo(
    name="fashion-mnist",
    description="Fashion-MNIST: 70,000 28x28 grayscale images of Zalando articles, 10 classes.",
    license="MIT (Zalando SE)",
    homepage="https://github.com/zalandoresearch/fashion-mnist",
    files=_files(
        (
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/{file}",
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/{file}",
            "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/{file}",
        ),
        # sha256 of the gz: sha256sum of /work/shared/datasets/fashion-mnist
        # (= tfds fashion_mnist.txt); raw sha256: /work/shared/datasets/README.md.
        (
            (
                "train-images-idx3-ubyte.gz",
                26_421_880,
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                _RAW_TRAIN_IMAGES,
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            ),
            (
                "train-labels-idx1-ubyte.gz",
                29_515,
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                _RAW_TRAIN_LABELS,
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            ),
            (
                "t10k-images-idx3-ubyte.gz",
                4_422_102,
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                _RAW_TEST_IMAGES,
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            ),
            (
                "t10k-labels-idx1-ubyte.gz",
                5_148,
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                _RAW_TEST_LABELS,
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            ),
        ),
    ),
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    image_shape=(28, 28),
    split_rows={"train": 60_000, "test": 10_000},
    label_counts={"train": (6000,) * 10, "test": (1000,) * 10},
)

KMNIST = DatasetInfo(
    name="kmnist",
    description=(
        "Kuzushiji-MNIST: 70,000 28x28 grayscale images of 10 cursive Japanese (Kuzushiji) "
        "hiragana characters, a drop-in replacement for MNIST."
    ),
    license="CC BY-SA 4.0 (ROIS-DS Center for Open Data in the Humanities)",
    homepage="http://codh.rois.ac.jp/kmnist/",
    files=_files(
        (
            "https://codh.rois.ac.jp/kmnist/dataset/kmnist/{file}",
            "http://codh.rois.ac.jp/kmnist/dataset/kmnist/{file}",
        ),
        # sha256 and sizes: tensorflow/datasets tensorflow_datasets/url_checksums/kmnist.txt
        # (commit 333639b37af6c6fedf3610a4a2d42f1c6ef6f7d5). Raw sha256 unknown.
        (
            (
                "train-images-idx3-ubyte.gz",
                18_165_135,
                "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",
                _RAW_TRAIN_IMAGES,
                None,
            ),
            (
                "train-labels-idx1-ubyte.gz",
                29_497,
                "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",
                _RAW_TRAIN_LABELS,
                None,
            ),
            (
                "t10k-images-idx3-ubyte.gz",
                3_041_136,
                "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",
                _RAW_TEST_IMAGES,
                None,
            ),
            (
                "t10k-labels-idx1-ubyte.gz",
                5_120,
                "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",
                _RAW_TEST_LABELS,
                None,
            ),
        ),
    ),
    # Romanised hiragana: お き す つ な は ま や れ を.
    class_names=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
    image_shape=(28, 28),
    split_rows={"train": 60_000, "test": 10_000},
    label_counts={"train": (6000,) * 10, "test": (1000,) * 10},
)
