"""Reading hostile manifests: ``load_campaign`` now against the old path (``yaml.safe_load``, then pydantic and
its error text), side by side.

An alias bomb of ``n`` levels of 9 aliases is ~55 bytes a level and stands for 9**n scalars. The old path built
the validation error over the whole expansion (the issue's 1 KB, 9-level bomb took 5.5 GB and 100 s), so it is
measured at 4 to 6 levels only; the strict loader refuses any bomb at its first alias. A normal 200-shot manifest
shows what the strictness costs when nothing is wrong. Time is measured without tracing, memory in a second run.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

import yaml
from pydantic import ValidationError

from media_pipeline.campaign import CampaignError, Manifest, load_campaign

IMAGES = [f"shot_{i}.jpg" for i in range(200)]


def bomb(levels: int) -> str:
    lines = [f"l0: &l0 [{', '.join(['lol'] * 9)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines)


def old_path(text: str) -> object:
    try:
        return Manifest.model_validate(yaml.safe_load(text))
    except ValidationError as exc:
        return str(exc)  # what the old CampaignError kept


def new_path(text: str) -> object:
    try:
        return load_campaign("bench", IMAGES, text)
    except CampaignError as exc:
        return str(exc)


def measure(load: Callable[[str], object], text: str) -> tuple[float, float]:
    """Milliseconds (best of 3) and peak traced MiB of one load."""
    best = min(_timed(load, text) for _ in range(3))
    tracemalloc.start()
    load(text)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best * 1000, peak / (1 << 20)


def _timed(load: Callable[[str], object], text: str) -> float:
    start = time.perf_counter()
    load(text)
    return time.perf_counter() - start


def main() -> None:
    normal = "resolution: 720p\nstyle: warm light\nshots:\n" + "".join(
        f"  - {{image: shot_{i}.jpg, prompt: slow push-in on the label, duration: 5}}\n" for i in range(200)
    )
    cases = [(f"alias bomb, {n} levels ({len(bomb(n))} B)", bomb(n)) for n in (4, 5, 6)]
    cases.append((f"200-shot manifest ({len(normal) // 1024} KiB)", normal))
    print(f"{'input':<34}{'ours':>22}{'old path':>24}{'ratio':>9}")
    for name, text in cases:
        (ours_ms, ours_mib), (old_ms, old_mib) = measure(new_path, text), measure(old_path, text)
        print(f"{name:<34}{ours_ms:>9.2f} ms {ours_mib:>7.2f} MiB{old_ms:>11.2f} ms {old_mib:>7.2f} MiB"
              f"{old_ms / ours_ms:>8.1f}x")  # fmt: skip
    ms, mib = measure(new_path, bomb(9))
    print(f"alias bomb, 9 levels ({len(bomb(9))} B): ours refuses it in {ms:.2f} ms, {mib:.2f} MiB")


if __name__ == "__main__":
    main()
