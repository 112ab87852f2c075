"""Job file: the contract schema, one-line errors that name the key, overrides, secrets."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ferry.config import (
    DEFAULT_LAYOUT,
    Options,
    RepositoryMapping,
    Secret,
    apply_overrides,
    load_job,
    parse_job,
)
from ferry.errors import UsageError
from ferry.model import ItemKey

GOOD = """
[source]
kind = "nexus"
url = "https://nexus.example.com/"
username = "migrator"
password_env = "NEXUS_PASSWORD"

[target]
domain = "acme"
domain_owner = "111122223333"
region = "us-east-1"
profile = "migration"

[[repositories]]
source = "npm-hosted"
target = "npm-store"

[[repositories]]
source = "raw-tools"
target = "generic-store"
format = "generic"
layout = "{package}/{version}/{asset}"
include = ["cli*"]

[options]
workers = 8
create_missing = true
origin_policy = "allow-publish"
exclude = ["*@*-SNAPSHOT"]
since = 2024-01-31
"""


def write(tmp_path, text, name="job.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_job_reads_into_dataclasses(tmp_path):
    job = load_job(write(tmp_path, GOOD))
    assert job.source.kind == "nexus"
    assert job.source.url == "https://nexus.example.com"
    assert job.source.password == Secret("NEXUS_PASSWORD", origin=f"{tmp_path / 'job.toml'}: source.password_env")
    assert job.target.domain == "acme" and job.target.domain_owner == "111122223333"
    npm, raw = job.repositories
    assert (npm.source, npm.target, npm.namespace, npm.layout, npm.format) == (
        "npm-hosted", "npm-store", "npm-hosted", DEFAULT_LAYOUT, None)
    assert (raw.namespace, raw.format, raw.include) == ("raw-tools", "generic", ("cli*",))
    assert job.options == Options(
        workers=8, create_missing=True, origin_policy="allow-publish", include=(), exclude=("*@*-SNAPSHOT",),
        since=datetime(2024, 1, 31, tzinfo=timezone.utc))


def test_minimal_job_gets_defaults():
    job = parse_job(
        '[source]\nkind="nexus"\nurl="http://n:8081"\n[target]\ndomain="d1"\n'
        '[[repositories]]\nsource="a"\ntarget="b1"\n')
    assert job.options == Options()
    assert job.source.password is None and job.target.region is None
    assert job.repositories[0].namespace == "a"


def test_codeartifact_source_takes_domain_and_region():
    job = parse_job(
        '[source]\nkind="codeartifact"\ndomain="old"\nregion="eu-west-1"\nprofile="src"\n'
        '[target]\ndomain="new"\nregion="us-east-1"\n[[repositories]]\nsource="a1"\ntarget="a1"\n')
    assert (job.source.domain, job.source.region, job.source.url) == ("old", "eu-west-1", None)


@pytest.mark.parametrize("name", ["a", "my libs", "-libs"])
def test_a_codeartifact_source_repository_name_is_checked_as_one(tmp_path, name):
    """A CodeArtifact source is named by a repository name, with the target's rules: a name the service would
    refuse is bad input (exit 2 before anything is contacted), not an "unexpected ValidationException" mid-run."""
    text = ('[source]\nkind="codeartifact"\ndomain="old"\nregion="eu-west-1"\n[target]\ndomain="new"\n'
            f'region="us-east-1"\n[[repositories]]\nsource="{name}"\ntarget="a1"\n')
    with pytest.raises(UsageError) as caught:
        load_job(write(tmp_path, text))
    assert "repositories[0].source" in str(caught.value) and "repository name" in str(caught.value)
    # A Nexus or Artifactory repository name is that product's business: not checked against CodeArtifact's rules.
    nexus = text.replace('kind="codeartifact"\ndomain="old"\nregion="eu-west-1"', 'kind="nexus"\nurl="https://n.example"')
    assert load_job(write(tmp_path, nexus)).repositories[0].source == name


@pytest.mark.parametrize("line", ['namespace = "renamed"', 'layout = "{package}/{asset}/{version}"'])
def test_generic_path_keys_are_refused_for_a_codeartifact_source(tmp_path, line):
    """A CodeArtifact source names every package's namespace itself (no paths to lay out): a mapping's
    namespace or layout would be ignored in silence, so the job is refused naming the key."""
    text = ('[source]\nkind="codeartifact"\ndomain="old"\nregion="eu-west-1"\n[target]\ndomain="new"\n'
            f'region="us-east-1"\n[[repositories]]\nsource="files"\ntarget="files"\nformat="generic"\n{line}\n')
    with pytest.raises(UsageError) as caught:
        load_job(write(tmp_path, text))
    key = line.split(" ")[0]
    assert f"repositories[0].{key}: " in str(caught.value) and "its own namespace" in str(caught.value)
    assert "remove it" in str(caught.value)


def test_source_rates_are_read_for_a_codeartifact_source_and_refused_for_others(tmp_path):
    """[options.source_rates] paces a CodeArtifact source in another account or region (ferry.engine); no other
    source is read through CodeArtifact's quotas, so there it would be ignored in silence."""
    text = ('[source]\nkind="codeartifact"\ndomain="old"\nregion="eu-west-1"\n[target]\ndomain="new"\n'
            'region="us-east-1"\n[[repositories]]\nsource="a1"\ntarget="a1"\n[options.source_rates]\n'
            'asset_read = 20\nlist = 0\n')
    assert parse_job(text).options.source_rates == (("asset_read", 20.0), ("list", 0.0))
    with pytest.raises(UsageError, match=r"options\.source_rates\.copyy: unknown key"):
        parse_job(text.replace("list = 0", "copyy = 1"))
    with pytest.raises(UsageError, match=r"options\.source_rates: only a CodeArtifact source .*remove it"):
        parse_job(GOOD + "[options.source_rates]\nasset_read = 20\n")


def test_since_is_refused_for_a_codeartifact_source():
    """A CodeArtifact source's listings carry no publish dates, so since would select nothing out: every
    version would be copied while the run seemed to honour the date. Refused, in the job file and as a flag."""
    text = ('[source]\nkind="codeartifact"\ndomain="old"\nregion="eu-west-1"\n[target]\ndomain="new"\n'
            'region="us-east-1"\n[[repositories]]\nsource="a1"\ntarget="a1"\n')
    with pytest.raises(UsageError, match=r"options\.since: a CodeArtifact source's listings carry no publish dates"):
        parse_job(text + "[options]\nsince = 2025-01-01\n")
    with pytest.raises(UsageError, match=r"--since: a CodeArtifact source's listings carry no publish dates"):
        apply_overrides(parse_job(text), since="2025-01-01")


def swap(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


MALFORMED = [
    # (id, job text, key path the message must name, a phrase of the message)
    ("toml-syntax", GOOD + "\nworkers 8\n", "not valid TOML", "line"),
    ("unknown-top", GOOD + "\n[repository]\nsource='x'\n", "repository", "did you mean 'repositories'"),
    ("unknown-source-key", swap("username =", "usernme ="), "source.usernme", "did you mean 'username'"),
    ("unknown-target-key", swap("profile =", "profil ="), "target.profil", "did you mean 'profile'"),
    ("unknown-repo-key", swap('target = "npm-store"', 'target = "npm-store"\ntarge = "x"'),
     "repositories[0].targe", "did you mean 'target'"),
    ("unknown-option", swap("workers = 8", "worker = 8"), "options.worker", "did you mean 'workers'"),
    ("literal-password", swap('password_env = "NEXUS_PASSWORD"', 'password = "hunter2"'),
     "source.password", "password_env"),
    ("literal-token", swap('password_env = "NEXUS_PASSWORD"', 'token = "abc"'), "source.token", "token_env"),
    ("env-not-a-name", swap('"NEXUS_PASSWORD"', '"s3cr3t pass!"'), "source.password_env", "NAME of an environment"),
    ("missing-source", GOOD.replace('[source]\nkind = "nexus"\nurl = "https://nexus.example.com/"\n'
                                    'username = "migrator"\npassword_env = "NEXUS_PASSWORD"\n', ""),
     "source", "add a [source] table"),
    ("missing-kind", swap('kind = "nexus"\n', ""), "source.kind", "missing"),
    ("unknown-kind", swap('kind = "nexus"', 'kind = "nexsu"'), "source.kind", "did you mean 'nexus'"),
    ("url-not-http", swap('"https://nexus.example.com/"', '"ftp://nexus.example.com"'), "source.url", "http(s)"),
    ("url-with-credentials", swap('"https://nexus.example.com/"', '"https://u:p@nexus.example.com"'),
     "source.url", "credentials"),
    ("url-wrong-type", swap('"https://nexus.example.com/"', "8081"), "source.url", "URL string"),
    ("missing-url", swap('url = "https://nexus.example.com/"\n', ""), "source.url", "missing"),
    ("password-without-user", swap('username = "migrator"\n', ""), "source.password_env", "username"),
    ("user-without-password", swap('password_env = "NEXUS_PASSWORD"\n', ""), "source.username", "password_env"),
    ("ca-key-on-nexus", swap('kind = "nexus"', 'kind = "nexus"\ndomain = "x1"'), "source.domain", "codeartifact"),
    ("bad-domain", swap('domain = "acme"', 'domain = "Acme_Corp"'), "target.domain", "domain name"),
    ("domain-too-short", swap('domain = "acme"', 'domain = "a"'), "target.domain", "domain name"),
    ("missing-domain", swap('domain = "acme"\n', ""), "target.domain", "missing"),
    ("bad-owner", swap('"111122223333"', '"1234"'), "target.domain_owner", "12 digits"),
    ("bad-region", swap('"us-east-1"', '"Virginia"'), "target.region", "region"),
    ("target-not-table", 'target = "acme"\n' + swap(
        '[target]\ndomain = "acme"\ndomain_owner = "111122223333"\nregion = "us-east-1"\nprofile = "migration"\n', ""),
     "target", "expected a [target] table"),
    ("bad-repo-name", swap('target = "npm-store"', 'target = "npm store"'), "repositories[0].target",
     "repository name"),
    ("repo-name-too-short", swap('target = "generic-store"', 'target = "g"'), "repositories[1].target",
     "repository name"),
    ("missing-repo-source", swap('source = "raw-tools"\n', ""), "repositories[1].source", "missing"),
    ("duplicate-target", swap('target = "generic-store"', 'target = "npm-store"'), "repositories[1].target",
     "already the target of repositories[0]"),
    ("no-repositories", GOOD.split("[[repositories]]")[0] + "[options]\nworkers = 2\n", "repositories", "missing"),
    ("repositories-table", GOOD.split("[[repositories]]")[0] + "[repositories]\nsource='a'\n", "repositories",
     "[[repositories]]"),
    ("layout-unknown-placeholder", swap('layout = "{package}/{version}/{asset}"', 'layout = "{pkg}/{version}/{asset}"'),
     "repositories[1].layout", "unknown placeholder {pkg}"),
    ("layout-missing-version", swap('layout = "{package}/{version}/{asset}"', 'layout = "{package}/{asset}"'),
     "repositories[1].layout", "missing {version}"),
    ("layout-unbalanced", swap('layout = "{package}/{version}/{asset}"', 'layout = "{package/{version}/{asset}"'),
     "repositories[1].layout", "braces"),
    ("layout-adjacent", swap('layout = "{package}/{version}/{asset}"', 'layout = "{package}{version}/{asset}"'),
     "repositories[1].layout", "cannot be told apart"),
    ("layout-twice", swap('layout = "{package}/{version}/{asset}"', 'layout = "{package}/{version}/{package}/{asset}"'),
     "repositories[1].layout", "twice"),
    ("bad-format", swap('format = "generic"', 'format = "raw"'), "repositories[1].format", "did you mean 'generic'"),
    ("unknown-format", swap('format = "generic"', 'format = "docker"'), "repositories[1].format", "use one of: npm"),
    ("bad-namespace", swap('format = "generic"', 'format = "generic"\nnamespace = "a/b"'),
     "repositories[1].namespace", "namespace"),
    ("include-not-list", swap('include = ["cli*"]', "include = 3"), "repositories[1].include", "array"),
    ("workers-string", swap("workers = 8", 'workers = "8"'), "options.workers", "whole number"),
    ("workers-zero", swap("workers = 8", "workers = 0"), "options.workers", "out of range"),
    ("workers-bool", swap("workers = 8", "workers = true"), "options.workers", "whole number"),
    ("create-missing-string", swap("create_missing = true", 'create_missing = "yes"'), "options.create_missing",
     "true or false"),
    ("origin-policy", swap('"allow-publish"', '"allow"'), "options.origin_policy", "did you mean 'allow-publish'"),
    ("since-garbage", swap("since = 2024-01-31", 'since = "last tuesday"'), "options.since", "ISO 8601"),
    ("since-time-only", swap("since = 2024-01-31", "since = 12:30:00"), "options.since", "expected a date, not a time of day"),
]


@pytest.mark.parametrize("text, where, phrase", [case[1:] for case in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_job_gives_one_line_naming_the_key(tmp_path, text, where, phrase):
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as caught:
        load_job(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert f": {where}" in message
    assert phrase in message
    assert caught.value.exit_code == 2


def test_secret_values_never_appear_in_messages(tmp_path):
    for text in (swap('password_env = "NEXUS_PASSWORD"', 'password = "hunter2"'),
                 swap('"NEXUS_PASSWORD"', '"hunter2 is my pass"'),
                 swap('"https://nexus.example.com/"', '"https://bob:hunter2@nexus.example.com"')):
        with pytest.raises(UsageError) as caught:
            load_job(write(tmp_path, text))
        assert "hunter2" not in str(caught.value)


def test_missing_file_and_non_utf8(tmp_path):
    with pytest.raises(UsageError, match="cannot read the job file"):
        load_job(tmp_path / "nope.toml")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'[source]\nkind = "n\xe9xus"\n')
    with pytest.raises(UsageError, match="UTF-8"):
        load_job(bad)


def test_a_byte_order_mark_is_not_taken_for_toml(tmp_path):
    job = tmp_path / "job.toml"
    job.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())  # as some Windows editors save UTF-8
    assert load_job(job).target.domain == "acme"


def test_secret_is_read_at_use_time_and_never_shown(monkeypatch):
    secret = Secret("FERRY_TEST_PW", origin="job.toml: source.password_env")
    monkeypatch.delenv("FERRY_TEST_PW", raising=False)
    with pytest.raises(UsageError, match=r"FERRY_TEST_PW \(job.toml: source.password_env\) is not set"):
        secret.reveal()
    monkeypatch.setenv("FERRY_TEST_PW", "correct horse")
    assert secret.reveal() == "correct horse"
    assert "correct horse" not in repr(secret) + str(secret) + f"{secret!r} {secret}"
    job = parse_job(GOOD)
    assert "correct horse" not in repr(job)


def test_overrides_replace_options_and_name_the_flag():
    job = parse_job(GOOD)
    changed = apply_overrides(job, workers=2, include=("@acme/*",), since="2025-02-01T10:00:00+02:00",
                              create_missing=None)
    assert changed.options.workers == 2
    assert changed.options.include == ("@acme/*",)
    assert changed.options.exclude == job.options.exclude  # not given: kept
    assert changed.options.create_missing is True
    assert changed.options.since == datetime(2025, 2, 1, 8, 0, tzinfo=timezone.utc)
    assert apply_overrides(job) is job
    with pytest.raises(UsageError, match=r"^command line: --workers: 0 is out of range"):
        apply_overrides(job, workers=0)
    with pytest.raises(UsageError, match=r"^command line: --origin-policy: .*did you mean 'report'"):
        apply_overrides(job, origin_policy="reprt")
    with pytest.raises(TypeError):
        apply_overrides(job, wrkers=3)


def test_layout_splits_generic_paths():
    job = parse_job(GOOD)
    raw = job.repositories[1]
    assert raw.match_path("/cli/1.2.3/cli-linux.tar.gz") == {
        "package": "cli", "version": "1.2.3", "asset": "cli-linux.tar.gz", "namespace": "raw-tools"}
    assert raw.match_path("cli/cli-linux.tar.gz") is None
    assert raw.match_path("a/b/c/d") is None
    custom = parse_job(swap('layout = "{package}/{version}/{asset}"',
                            'layout = "releases/{namespace}/{package}-{version}/{asset}"'))
    assert custom.repositories[1].match_path("releases/team/tool-2.0/tool.zip") == {
        "namespace": "team", "package": "tool", "version": "2.0", "asset": "tool.zip"}


def test_selection_globs_combine_mapping_and_options():
    job = parse_job(GOOD)
    npm, raw = job.repositories
    key = ItemKey("npm", "acme", "ui", "1.0.0", "package.tgz")
    assert npm.selects(key, job.options)
    assert not npm.selects(ItemKey("npm", "", "x", "1.0-SNAPSHOT", "package.tgz"), job.options)  # options.exclude
    assert raw.selects(ItemKey("generic", "raw-tools", "cli", "1", "cli.tgz"), job.options)
    assert not raw.selects(ItemKey("generic", "raw-tools", "gui", "1", "gui.tgz"), job.options)  # mapping include
    narrowed = apply_overrides(job, include=["@acme/*"])
    assert npm.selects(key, narrowed.options)
    assert not npm.selects(ItemKey("npm", "", "lodash", "4.0.0", "package.tgz"), narrowed.options)
    by_version = apply_overrides(job, exclude=["lodash@4.*"])
    assert not npm.selects(ItemKey("npm", "", "lodash", "4.17.21", "package.tgz"), by_version.options)
    assert npm.selects(ItemKey("npm", "", "lodash", "3.10.1", "package.tgz"), by_version.options)


def test_globs_find_nuget_and_swift_packages_however_the_source_cases_them():
    """CodeArtifact lowercases NuGet ids and Swift scopes/names, so the item keys are lowercase; a glob
    written as the source spells the id (``Acme.Core``) must still select, and exclude, that package."""
    job = parse_job(GOOD)
    npm = job.repositories[0]
    nuget = ItemKey("nuget", "", "acme.core", "1.0.0", "acme.core.1.0.0.nupkg")
    swift = ItemKey("swift", "mona", "linkedlist", "1.1.1", "linkedlist-1.1.1.zip")
    assert not npm.selects(nuget, apply_overrides(job, exclude=["Acme.Core"]).options)
    assert not npm.selects(nuget, apply_overrides(job, exclude=["Acme.*@1.0.0"]).options)
    assert npm.selects(nuget, apply_overrides(job, include=["Acme.Core"]).options)
    assert not npm.selects(swift, apply_overrides(job, exclude=["mona/LinkedList"]).options)
    assert npm.selects(swift, apply_overrides(job, include=["LinkedList@1.*"]).options)
    # a NuGet version as the source lists it (1.0, 1.0.0.0, 1.0.0+build) names the normalized one
    for version in ("1.0", "1.0.0.0", "1.0.0+build.5", "01.0.0"):
        assert not npm.selects(nuget, apply_overrides(job, exclude=[f"Acme.Core@{version}"]).options), version
    assert npm.selects(nuget, apply_overrides(job, exclude=["Acme.Core@1.0.1"]).options)
    # formats whose names are kept as published still match case-sensitively
    assert npm.selects(ItemKey("npm", "", "ui", "1.0.0", "package.tgz"), apply_overrides(job, exclude=["UI"]).options)


@pytest.mark.parametrize("command", ["migrate", "replicate"])
def test_the_workers_help_states_the_default_a_job_gets(monkeypatch, capsys, command):
    from e2e_helpers import ferry

    monkeypatch.setenv("COLUMNS", "300")  # one line per option: the help text is not wrapped
    assert ferry(command, "--help") == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if "--workers" in line]
    assert f"Parallel transfers (default {Options().workers};" in line


def test_the_include_help_names_the_forms_a_glob_is_matched_against():
    """``--help`` is where a user reads what ``--include 'acme-*'`` selects: it said only "packages matching this
    glob", and a Maven user writing group:artifact, or a PyPI user writing the project as pip does, could not tell.
    Each form the help names must select its item, and the case rule it states must hold."""
    from ferry.cli.jobs import INCLUDE

    help_text = INCLUDE.help
    mapping = RepositoryMapping(source="s", target="t", namespace="s")
    forms = [("@scope/name", ItemKey("npm", "scope", "name", "1.0.0", "package.tgz"), None),
             ("group/artifact", ItemKey("maven", "group", "artifact", "1.0", "artifact-1.0.jar"), None),
             ("namespace/package", ItemKey("generic", "namespace", "package", "1.0", "a.bin"), None),
             ("Acme.Core", ItemKey("pypi", "", "acme-core", "1.0", "acme_core-1.0-py3-none-any.whl"), "Acme.Core"),
             ("lodash@4.*", ItemKey("npm", "", "lodash", "4.17.21", "package.tgz"), None)]
    for form, key, spelled in forms:
        assert form in help_text, form
        assert mapping.selects(key, Options(include=(form,)), spelled), form
    assert "case-sensitive except for NuGet and Swift" in help_text
    assert not mapping.selects(ItemKey("npm", "", "acme", "1.0.0", "package.tgz"), Options(include=("ACME",)))
    assert mapping.selects(ItemKey("nuget", "", "acme.core", "1.0.0", "acme.core.1.0.0.nupkg"),
                           Options(include=("ACME.Core",)))
