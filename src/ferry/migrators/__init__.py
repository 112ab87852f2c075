"""One migrator per package format: how its files map to items, how versions group, how they publish.

``MIGRATORS`` maps a CodeArtifact format to its migrator. The engine has no format-specific branches:
it asks the migrator.
"""

from __future__ import annotations

from ferry.migrators.base import Migrator
from ferry.migrators.cargo import CargoMigrator
from ferry.migrators.generic import GenericMigrator
from ferry.migrators.maven import MavenMigrator
from ferry.migrators.npm import NpmMigrator
from ferry.migrators.nuget import NugetMigrator
from ferry.migrators.pypi import PypiMigrator
from ferry.migrators.ruby import RubyMigrator
from ferry.migrators.swift import SwiftMigrator

MIGRATORS: dict[str, Migrator] = {m.format: m for m in (
    NpmMigrator(), PypiMigrator(), GenericMigrator(),
    MavenMigrator(),
    NugetMigrator(), SwiftMigrator(),
    RubyMigrator(), CargoMigrator(),
)}

__all__ = ["MIGRATORS", "Migrator"]
