"""The metadata ``cargo publish`` sends, rebuilt from the ``Cargo.toml`` inside a ``.crate``.

A ``.crate`` is a gzipped tar of ``{name}-{version}/``; its ``Cargo.toml`` is the manifest cargo
normalized when packaging (inherited fields resolved, every dependency a table with its
``version``, and ``registry-index`` naming the index of any dependency not from crates.io). From it
this module builds the JSON of the registry web API's publish call, as cargo's ``transmit`` does:
``version_req`` as the semver crate prints it (``0.1`` becomes ``^0.1``), ``explicit_name_in_toml`` for
renamed dependencies, ``kind`` normal/dev/build, ``target`` for ``[target.'cfg(..)'.dependencies]``,
the readme's text, and ``registry`` set only for dependencies from another registry than the one
published to (``None`` means "this registry" in the web API, while in ``Cargo.toml`` no registry
means crates.io).
"""

from __future__ import annotations

import re
import tarfile
import tomllib
from pathlib import Path
from typing import Any, Callable

from ferry.errors import ItemError

CRATES_IO_INDEX = "https://github.com/rust-lang/crates.io-index"
MAX_MEMBER = 10 * 1024 * 1024
_KINDS = (("dependencies", "normal"), ("dev-dependencies", "dev"), ("build-dependencies", "build"))
_OPS = (">=", "<=", "=", ">", "<", "~", "^")


def read_crate(path: Path, name: str, version: str) -> tuple[dict[str, Any], dict[str, str]]:
    """``(Cargo.toml as a dict, {relative path: text} of the readme it names)`` from the ``.crate``.

    Raises :class:`ItemError` if the archive is unreadable or has no ``{name}-{version}/Cargo.toml``.
    """
    root = f"{name}-{version}/"
    manifest: dict[str, Any] | None = None
    texts: dict[str, str] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = {m.name.lstrip("./"): m for m in tar if m.isfile() and m.size <= MAX_MEMBER}
            member = members.get(root + "Cargo.toml")
            if member is not None:
                handle = tar.extractfile(member)
                manifest = tomllib.loads(handle.read().decode("utf-8")) if handle else None
            readme = ((manifest or {}).get("package") or {}).get("readme")
            if isinstance(readme, str) and (root + _clean(readme)) in members:
                handle = tar.extractfile(members[root + _clean(readme)])
                if handle:
                    texts[readme] = handle.read().decode("utf-8", "replace")
    except (tarfile.TarError, OSError, EOFError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ItemError(f"corrupt .crate: {type(err).__name__}: {err}") from None
    if manifest is None:
        raise ItemError(f"the .crate has no {root}Cargo.toml")
    return manifest, texts


def _clean(path: str) -> str:
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts)


def version_req(text: str) -> str:
    """A requirement as ``semver::VersionReq`` prints it: ``0.1`` → ``^0.1``, ``>= 1, < 2`` → ``>=1, <2``."""
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise ItemError(f"empty comparator in version requirement {text!r}")
        op = next((o for o in _OPS if part.startswith(o)), "")
        rest = part[len(op):].strip()
        rest = re.sub(r"(^|\.)[xX](?=\.|$)", r"\1*", rest)
        if not op and "*" in rest:
            out.append(rest)  # a wildcard has no operator: "*", "1.*"
        else:
            out.append((op or "^") + rest)
    return ", ".join(out)


def publish_metadata(manifest: dict[str, Any], readmes: dict[str, str],
                     same_registry: Callable[[str], bool]) -> dict[str, Any]:
    """The publish JSON for ``manifest``. ``same_registry(index_url)`` says whether a dependency's
    ``registry-index`` is the registry being migrated (its dependencies then point at the target).

    Raises :class:`ItemError` for a dependency without a version (cargo would not have published it).
    """
    package = manifest.get("package") or {}
    deps: list[dict[str, Any]] = []
    for table, kind in _KINDS:
        deps += _deps(manifest.get(table) or {}, kind, None, same_registry)
    for target, tables in (manifest.get("target") or {}).items():
        for table, kind in _KINDS:
            deps += _deps((tables or {}).get(table) or {}, kind, target, same_registry)
    readme = package.get("readme") if isinstance(package.get("readme"), str) else None
    return {
        "name": package.get("name"),
        "vers": package.get("version"),
        "deps": deps,
        "features": {k: list(v) for k, v in (manifest.get("features") or {}).items()},
        "authors": list(package.get("authors") or []),
        "description": package.get("description"),
        "documentation": package.get("documentation"),
        "homepage": package.get("homepage"),
        "readme": readmes.get(readme) if readme else None,
        "readme_file": readme,
        "keywords": list(package.get("keywords") or []),
        "categories": list(package.get("categories") or []),
        "license": package.get("license"),
        "license_file": package.get("license-file"),
        "repository": package.get("repository"),
        "badges": manifest.get("badges") or {},
        "links": package.get("links"),
        "rust_version": package.get("rust-version"),
    }


def _deps(table: dict[str, Any], kind: str, target: str | None,
          same_registry: Callable[[str], bool]) -> list[dict[str, Any]]:
    out = []
    for key, spec in table.items():
        if isinstance(spec, str):
            spec = {"version": spec}
        if not isinstance(spec, dict) or not isinstance(spec.get("version"), str):
            raise ItemError(f"dependency {key!r} in Cargo.toml has no version requirement")
        index = spec.get("registry-index")
        if index is None:
            registry: str | None = CRATES_IO_INDEX
        else:
            registry = None if same_registry(index) else index
        dep: dict[str, Any] = {
            "optional": bool(spec.get("optional", False)),
            "default_features": bool(spec.get("default-features", spec.get("default_features", True))),
            "name": spec.get("package") or key,
            "features": list(spec.get("features") or []),
            "version_req": version_req(spec["version"]),
            "target": target,
            "kind": kind,
        }
        if registry is not None:
            dep["registry"] = registry
        if spec.get("package"):
            dep["explicit_name_in_toml"] = key
        out.append(dep)
    return out
