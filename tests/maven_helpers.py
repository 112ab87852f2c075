"""Running real ``mvn`` against a stand-in, offline: Debian's packaged plugins, no Maven Central.

Follows shared/reference/maven-offline.md: a settings.xml with a fresh local repository, the
stand-in as repository ``standin`` (credentials ``aws``/TOKEN), plugins from ``/usr/share/maven-repo``
and Maven Central mirrored there too. The stand-in repository is set to fail on a bad checksum, so
every download is also checked against the ``.sha1`` the stand-in serves.

Each settings folder starts from a copy (hard links) of a local repository warmed once per process
with the plugins alone (their ``help`` goals), so no artifact under test is ever cached, but the
plugin jars are not copied out of Debian's repository again for every call.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from xml.sax.saxutils import escape

DEBIAN_REPO = Path("/usr/share/maven-repo")
PLUGINS = DEBIAN_REPO / "org/apache/maven/plugins"


def plugin_version(artifact: str, wanted: str) -> str:
    """``wanted`` if Debian ships that version of the plugin, else the highest one it ships."""
    folder = PLUGINS / artifact
    versions = sorted((p.name for p in folder.iterdir() if p.is_dir() and p.name[0].isdigit()),
                      key=lambda v: [int(x) if x.isdigit() else 0 for x in v.split(".")]) if folder.is_dir() else []
    if wanted in versions or not versions:
        return wanted
    return versions[-1]


def mvn_available(*plugins: str) -> bool:
    """True when ``mvn`` and Debian's dependency plugin (and any other ``plugins`` named) are installed."""
    return shutil.which("mvn") is not None and all((PLUGINS / p).is_dir()
                                                   for p in ("maven-dependency-plugin", *plugins))


USED_PLUGINS = (("maven-dependency-plugin", "3.5.0"), ("maven-deploy-plugin", "3.0.0"))
_warm: dict[str, Path] = {}
_warm_lock = threading.Lock()


def _warm_repository() -> Path:
    """A local repository holding only the plugins :data:`USED_PLUGINS` need (made once per process)."""
    with _warm_lock:
        if "m2" not in _warm:
            root = Path(tempfile.mkdtemp(prefix="ferry-m2-warm-"))
            atexit.register(shutil.rmtree, root, True)
            settings = write_settings(root, "file:///nonexistent", "unused", warm=False)
            for plugin, wanted in USED_PLUGINS:
                if (PLUGINS / plugin).is_dir():
                    mvn(settings, f"org.apache.maven.plugins:{plugin}:{plugin_version(plugin, wanted)}:help")
            _warm["m2"] = root / "m2"
        return _warm["m2"]


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def write_settings(folder: Path, repository_url: str, token: str, warm: bool = True) -> Path:
    """A settings.xml under ``folder`` with a fresh local repository ``folder/m2`` (holding only the
    plugins when ``warm``); returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    if warm and not (folder / "m2").exists():
        shutil.copytree(_warm_repository(), folder / "m2", copy_function=_link_or_copy)
    path = folder / "settings.xml"
    path.write_text(f"""<settings>
  <localRepository>{escape(str(folder / "m2"))}</localRepository>
  <servers><server><id>standin</id><username>aws</username><password>{escape(token)}</password></server></servers>
  <profiles><profile><id>p</id>
    <repositories><repository><id>standin</id><url>{escape(repository_url)}</url>
      <releases><checksumPolicy>fail</checksumPolicy></releases>
      <snapshots><enabled>true</enabled><checksumPolicy>fail</checksumPolicy></snapshots>
    </repository></repositories>
    <pluginRepositories><pluginRepository><id>debian</id><url>file://{DEBIAN_REPO}</url></pluginRepository>
    </pluginRepositories>
  </profile></profiles>
  <activeProfiles><activeProfile>p</activeProfile></activeProfiles>
  <mirrors><mirror><id>nocentral</id><mirrorOf>central</mirrorOf><url>file://{DEBIAN_REPO}</url></mirror></mirrors>
</settings>
""")
    return path


def mvn(settings: Path, *args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    """``mvn -B -s settings ARGS`` isolated from the machine's ~/.m2; raises with the output if it fails."""
    # A JVM that starts fast: mvn runs are short, so the C2 compiler and a parallel GC only cost time.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(settings.parent),
           "MAVEN_OPTS": "-Xmx512m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}
    proc = subprocess.run(["mvn", "-B", "-s", str(settings), *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=settings.parent)
    if proc.returncode != 0:
        raise AssertionError(f"mvn {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-6000:]}{proc.stderr}")
    return proc


def get(settings: Path, coordinates: str) -> subprocess.CompletedProcess:
    """Resolve one artifact (``g:a:v[:type:classifier]``) with maven-dependency-plugin ``get``."""
    version = plugin_version("maven-dependency-plugin", "3.5.0")
    return mvn(settings, f"org.apache.maven.plugins:maven-dependency-plugin:{version}:get",
               f"-Dartifact={coordinates}", "-Dtransitive=false")


def local_file(settings: Path, group: str, artifact: str, version: str, name: str) -> Path:
    """Where the fresh local repository of ``settings`` keeps a resolved file."""
    return settings.parent / "m2" / group.replace(".", "/") / artifact / version / name


def came_from(settings: Path, group: str, artifact: str, version: str, name: str) -> str | None:
    """The repository id Maven recorded in ``_remote.repositories`` for ``name`` (None if not listed)."""
    record = local_file(settings, group, artifact, version, "_remote.repositories")
    if not record.is_file():
        return None
    for line in record.read_text().splitlines():
        if line.startswith(f"{name}>"):
            return line.split(">", 1)[1].rstrip("=")
    return None
