#!/usr/bin/env python3
"""Writes flatpak/cargo-sources.json from Cargo.lock so flatpak-builder can build offline.

Every crates.io package of the lock file becomes an archive source unpacked into
cargo/vendor/<name>-<version>, with the .cargo-checksum.json cargo expects for a vendored
directory; a cargo config points crates.io at that directory. Run it again whenever
Cargo.lock changes:

    python3 flatpak/gen-cargo-sources.py [Cargo.lock] [flatpak/cargo-sources.json]
"""

import json
import sys
import tomllib
from pathlib import Path

CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"
VENDOR = "cargo/vendor"

CARGO_CONFIG = f"""[source.crates-io]
replace-with = "vendored-sources"

[source.vendored-sources]
directory = "{VENDOR}"
"""


def sources(lock: dict) -> list:
    out = []
    for package in lock.get("package", []):
        source = package.get("source")
        if source is None:
            continue  # a workspace member, built from the project folder
        if source != CRATES_IO:
            sys.exit(f"error: {package['name']} comes from {source}; only crates.io is supported")
        name, version, checksum = package["name"], package["version"], package["checksum"]
        dest = f"{VENDOR}/{name}-{version}"
        out.append(
            {
                "type": "archive",
                "archive-type": "tar-gzip",
                "url": f"https://static.crates.io/crates/{name}/{name}-{version}.crate",
                "sha256": checksum,
                "dest": dest,
            }
        )
        out.append(
            {
                "type": "inline",
                "contents": json.dumps({"package": checksum, "files": {}}),
                "dest": dest,
                "dest-filename": ".cargo-checksum.json",
            }
        )
    out.append({"type": "inline", "contents": CARGO_CONFIG, "dest": "cargo", "dest-filename": "config.toml"})
    return out


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    lock_path = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "Cargo.lock"
    out_path = Path(sys.argv[2]) if len(sys.argv) > 2 else root / "flatpak" / "cargo-sources.json"
    with open(lock_path, "rb") as f:
        lock = tomllib.load(f)
    result = sources(lock)
    out_path.write_text(json.dumps(result, indent=4) + "\n", encoding="utf-8")
    print(f"wrote {out_path} ({(len(result) - 1) // 2} crates)")


if __name__ == "__main__":
    main()
