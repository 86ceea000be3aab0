"""Where training runs: the devices, the ``tf.distribute`` strategy, the precision and XLA.

TensorFlow backend
    Devices: every visible GPU when there is one, else the CPU. ``TrainConfig.devices``
    chooses instead: ``cpu``, ``gpu`` (all GPUs), or a comma list such as ``gpu:0,gpu:1``.
    Logical devices count, so a CPU split with ``tf.config.set_logical_device_configuration``
    (before TensorFlow starts) offers ``cpu:0,cpu:1``. Several devices train under
    ``tf.distribute.MirroredStrategy`` (each global batch is split across the replicas and
    the gradients are summed); one device under the default strategy (``OneDeviceStrategy``
    when it is not the default device). Asking for a device that is not there is a
    ``ConfigError`` naming the visible ones.

    Multi-worker: set ``TF_CONFIG`` on every machine and run the same command on each, e.g.
    ``TF_CONFIG='{"cluster": {"worker": ["host0:12345", "host1:12345"]}, "task": {"type":
    "worker", "index": 0}}'`` on host0 (index 1 on host1). The trainer then uses
    ``tf.distribute.MultiWorkerMirroredStrategy`` over every local GPU of each worker
    (``devices`` is not used), and each worker reads its own subset of the shard files (see
    :meth:`dataqual.train.data.ShardDataset.to_tf`). Give each worker its own output folder;
    worker 0's is the one to keep. The strategy must be created before TensorFlow has run
    anything else in the process, so run multi-worker training as ``dataqual train``.

    ``precision="mixed"`` sets Keras' global dtype policy to ``mixed_float16`` while the
    model is built (the output layer stays float32; Keras adds loss scaling); it needs a GPU
    and is refused on CPU. ``jit`` compiles the train step with XLA (``jit_compile=True``).

JAX backend (machines with JAX but no TensorFlow)
    No ``tf.distribute``: training runs on one device (the first GPU when JAX sees one, else
    the CPU, or the one device ``devices`` names), fed NumPy batches; ``TF_CONFIG`` is
    refused. JAX always compiles the train step with XLA, so ``jit`` is recorded as true.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from dataqual.errors import ConfigError

__all__ = ["Placement", "choose_devices", "place", "visible_devices", "worker_of"]

_DEVICE = re.compile(r"^(cpu|gpu)(?::(\d+))?$")


@dataclass(frozen=True)
class Placement:
    """The chosen devices, the strategy (``None`` on JAX), the precision and XLA, and which
    of ``workers[0]`` workers this process is (``workers[1]``)."""

    backend: str
    devices: tuple[str, ...]
    strategy: Any
    precision: str
    jit: bool
    workers: tuple[int, int] = (1, 0)

    @property
    def replicas(self) -> int:
        return int(self.strategy.num_replicas_in_sync) if self.strategy is not None else 1

    @property
    def strategy_name(self) -> str:
        return type(self.strategy).__name__ if self.strategy is not None else "SingleDevice"

    @contextmanager
    def scope(self) -> Iterator[None]:
        """Build the model inside: the strategy's scope (or JAX's device) and the dtype
        policy, restored on exit."""
        import keras

        previous = keras.mixed_precision.global_policy().name
        keras.mixed_precision.set_global_policy(
            "mixed_float16" if self.precision == "mixed" else "float32"
        )
        try:
            with self._device_scope():
                yield
        finally:
            keras.mixed_precision.set_global_policy(previous)

    def _device_scope(self) -> Any:
        if self.strategy is not None:
            return self.strategy.scope()
        if self.backend == "jax":
            import jax

            return jax.default_device(_jax_device(self.devices[0]))
        return nullcontext()

    def summary(self) -> dict[str, Any]:
        """The keys ``metrics.json`` records about where training ran."""
        return {
            "backend": self.backend,
            "devices": list(self.devices),
            "strategy": self.strategy_name,
            "replicas": self.replicas,
            "workers": self.workers[0],
            "precision": self.precision,
            "jit": self.jit,
        }


def visible_devices(backend: str) -> dict[str, list[str]]:
    """The visible (logical) devices by kind, as ``{"cpu": ["cpu:0"], "gpu": [...]}``."""
    found: dict[str, list[str]] = {"cpu": [], "gpu": []}
    if backend == "tensorflow":
        import tensorflow as tf

        for kind in found:
            count = len(tf.config.list_logical_devices(kind.upper()))
            found[kind] = [f"{kind}:{i}" for i in range(count)]
    elif backend == "jax":
        import jax

        for device in jax.devices() + (jax.devices("cpu") if _jax_has_gpu() else []):
            kind = "cpu" if device.platform == "cpu" else "gpu"
            found[kind].append(f"{kind}:{len(found[kind])}")
    else:
        found["cpu"] = ["cpu:0"]
    return found


def choose_devices(spec: str, visible: dict[str, list[str]]) -> tuple[str, ...]:
    """The devices ``spec`` names (``auto``: every GPU, else ``cpu:0``), each as ``kind:i``.

    Raises ``ConfigError`` for a malformed name or a device that is not visible.
    """
    seen = ", ".join(visible["gpu"] + visible["cpu"]) or "none"
    spec = spec.strip().lower()
    if spec == "auto":
        return tuple(visible["gpu"] or visible["cpu"][:1])
    chosen: list[str] = []
    for part in (p.strip().lower() for p in spec.split(",")):
        match = _DEVICE.match(part)
        if not match:
            raise ConfigError(f"devices: {part!r} is not auto, cpu, gpu or KIND:N such as gpu:0")
        kind, number = match.groups()
        names = visible[kind] if number is None else [f"{kind}:{int(number)}"]
        if kind == "cpu" and number is None:
            names = visible["cpu"][:1]
        missing = [n for n in names if n not in visible[kind]] or ([] if names else [kind])
        if missing:
            raise ConfigError(f"devices: no {missing[0]} here; visible devices: {seen}")
        chosen += [n for n in names if n not in chosen]
    return tuple(chosen)


def worker_of(tf_config: str | None) -> tuple[int, int]:
    """(number of workers, this worker's index) from a ``TF_CONFIG`` value; (1, 0) if unset."""
    if not tf_config:
        return 1, 0
    try:
        parsed = json.loads(tf_config)
        cluster, task = parsed.get("cluster", {}), parsed.get("task", {})
        chiefs = len(cluster.get("chief", []))
        count = chiefs + len(cluster.get("worker", []))
        index = int(task.get("index", 0)) + (chiefs if task.get("type") == "worker" else 0)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(f"TF_CONFIG is not a cluster description: {exc}") from None
    return max(count, 1), index


def place(backend: str, devices: str, precision: str, jit: bool) -> Placement:
    """Choose the devices and build the strategy for ``backend`` (see the module doc)."""
    tf_config = os.environ.get("TF_CONFIG")
    if tf_config and backend != "tensorflow":
        raise ConfigError(
            f"TF_CONFIG is set: multi-worker training needs the TensorFlow "
            f"backend, and Keras runs on {backend}"
        )
    visible = visible_devices(backend)
    chosen = choose_devices(devices, visible)
    if tf_config:
        chosen = tuple(visible["gpu"] or visible["cpu"][:1])
    if precision == "mixed" and not any(d.startswith("gpu") for d in chosen):
        raise ConfigError(
            f"mixed precision needs a GPU; training would run on {', '.join(chosen)} "
            f"(visible: {', '.join(visible['gpu'] + visible['cpu'])}); use --precision float32"
        )
    if backend != "tensorflow":
        if len(chosen) > 1:
            raise ConfigError(
                f"devices: the {backend} backend trains on one device, not {', '.join(chosen)}; "
                "use the TensorFlow backend (MirroredStrategy) for several"
            )
        return Placement(backend, chosen, None, precision, jit or backend == "jax")
    return Placement(
        backend,
        chosen,
        _tf_strategy(chosen, visible, bool(tf_config)),
        precision,
        jit,
        worker_of(tf_config),
    )


def _tf_strategy(chosen: tuple[str, ...], visible: dict[str, list[str]], multi: bool) -> Any:
    import tensorflow as tf

    if multi:
        return tf.distribute.MultiWorkerMirroredStrategy()
    names = [f"/{d}" for d in chosen]
    if len(names) > 1:
        return tf.distribute.MirroredStrategy(devices=names)
    default = (visible["gpu"] or visible["cpu"])[0]
    if chosen[0] == default:
        return tf.distribute.get_strategy()
    return tf.distribute.OneDeviceStrategy(names[0])


def _jax_has_gpu() -> bool:
    import jax

    return any(d.platform != "cpu" for d in jax.devices())


def _jax_device(name: str) -> Any:
    import jax

    kind, index = name.split(":")
    gpus = [d for d in jax.devices() if d.platform != "cpu"]
    return (jax.devices("cpu") if kind == "cpu" else gpus)[int(index)]
