"""runbooks/scale-out.md: the AWS Batch job definition and submission are valid API inputs (botocore's model),
the Kubernetes Indexed Job parses and is consistent, and both run ferry commands that ferry's CLI accepts
and that give every array index its own shard."""

from __future__ import annotations

import json
import os
import re
import shlex
import tomllib
from pathlib import Path

import botocore.session
import pytest
import typer.main
import yaml
from botocore.validate import ParamValidator

from ferry.cli import app
from ferry.shard import Shard, from_env

RUNBOOK = Path(__file__).resolve().parents[1] / "runbooks" / "scale-out.md"


def blocks(kind: str, lang: str) -> dict[str, str]:
    pattern = re.compile(rf"<!-- {kind}: ([\w-]+) -->\s*```{lang}\n(.*?)```", re.S)
    return dict(pattern.findall(RUNBOOK.read_text()))


def batch() -> dict[str, dict]:
    found = {name: json.loads(text) for name, text in blocks("batch", "json").items()}
    assert set(found) == {"job-definition", "submit-job"}
    return found


def job() -> dict:
    found = blocks("kubernetes", "yaml")
    assert set(found) == {"indexed-job"}
    return yaml.safe_load(found["indexed-job"])


def _validate(operation: str, params: dict) -> None:
    model = botocore.session.get_session().get_service_model("batch").operation_model(operation)
    report = ParamValidator().validate(params, model.input_shape)
    assert not report.has_errors(), report.generate_report()


def ferry_args(command: list[str]) -> list[str]:
    """The ferry command line inside a container command (``sh -c "cd ... && exec ferry ..."`` or direct)."""
    if command[:2] == ["sh", "-c"]:
        script = command[2]
        command = shlex.split(script.split("exec ", 1)[1])
    assert command[0] == "ferry"
    return command[1:]


def check_cli(args: list[str]) -> None:
    """ferry's own CLI parses the arguments, and they leave the shard and the ledger to the environment."""
    group = typer.main.get_command(app)
    name, rest = args[0], args[1:]
    assert name == "migrate"
    ctx = group.commands[name].make_context(name, list(rest))
    assert ctx.params["shard"] is None and ctx.params["state"] is None  # per-shard ledgers in the folder
    assert ctx.params["progress"] is False


def test_batch_job_definition_and_submission_are_valid_api_inputs():
    found = batch()
    _validate("RegisterJobDefinition", found["job-definition"])
    _validate("SubmitJob", found["submit-job"])
    assert found["submit-job"]["jobDefinition"] == found["job-definition"]["jobDefinitionName"]
    assert found["submit-job"]["arrayProperties"]["size"] >= 2  # an array job


def test_batch_runs_ferry_with_state_kept_on_efs():
    definition = batch()["job-definition"]
    container = definition["containerProperties"]
    args = ferry_args(container["command"])
    check_cli(args)
    mounts = {m["containerPath"]: m["sourceVolume"] for m in container["mountPoints"]}
    volumes = {v["name"]: v for v in container["volumes"]}
    assert "efsVolumeConfiguration" in volumes[mounts["/state"]]  # ledgers survive retries
    assert "cd /state" in container["command"][2]
    assert {s["name"] for s in container["secrets"]} == {"NEXUS_PASSWORD"}
    assert not any("PASSWORD" in e["name"] or "SECRET" in e["name"] for e in container["environment"])
    assert definition["retryStrategy"]["attempts"] >= 2


def test_batch_array_indexes_map_to_every_shard_once():
    size = batch()["submit-job"]["arrayProperties"]["size"]
    shards = [from_env({"AWS_BATCH_JOB_ARRAY_INDEX": str(k), "AWS_BATCH_JOB_ARRAY_SIZE": str(size)})
              for k in range(size)]
    assert shards == [Shard(i, size) for i in range(1, size + 1)]


def test_kubernetes_indexed_job_is_consistent():
    manifest = job()
    assert manifest["apiVersion"] == "batch/v1" and manifest["kind"] == "Job"
    spec = manifest["spec"]
    assert spec["completionMode"] == "Indexed"
    count = spec["completions"]
    assert 1 <= spec["parallelism"] <= count
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    (container,) = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["FERRY_SHARD_COUNT"]["value"] == str(count)  # what Kubernetes does not pass itself
    assert "secretKeyRef" in env["NEXUS_PASSWORD"]["valueFrom"] and "value" not in env["NEXUS_PASSWORD"]
    check_cli(ferry_args(container["command"]))
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert container["workingDir"] == mounts["state"]
    assert "persistentVolumeClaim" in volumes["state"]  # ledgers survive pod restarts
    job_file = next(a for a in container["command"] if a.endswith(".toml"))
    assert job_file.startswith(mounts["config"] + "/") and "configMap" in volumes["config"]
    shards = [from_env({"JOB_COMPLETION_INDEX": str(k), "FERRY_SHARD_COUNT": env["FERRY_SHARD_COUNT"]["value"]})
              for k in range(count)]
    assert shards == [Shard(i, count) for i in range(1, count + 1)]


def test_rates_example_is_a_valid_options_table():
    text = RUNBOOK.read_text()
    (snippet,) = re.findall(r"```toml\n(.*?)```", text, re.S)
    rates = tomllib.loads(snippet)["options"]["rates"]
    from ferry.ratelimit import CLASSES

    assert set(rates) <= set(CLASSES) and rates["publish"] > 0


@pytest.mark.parametrize("index", [0, 3, 7])
def test_a_child_without_the_count_is_refused(index):
    from ferry.errors import UsageError

    with pytest.raises(UsageError, match="AWS_BATCH_JOB_ARRAY_SIZE"):
        from_env({"AWS_BATCH_JOB_ARRAY_INDEX": str(index)})


def test_a_kubernetes_pod_without_the_count_is_told_which_variable_it_has():
    """The runbook has Kubernetes set FERRY_SHARD_COUNT by hand; a manifest that forgot it gets a line naming the
    variable Kubernetes did set, not "array index", which reads as AWS Batch's."""
    from ferry.errors import UsageError

    with pytest.raises(UsageError) as refused:
        from_env({"JOB_COMPLETION_INDEX": "2"})
    assert str(refused.value).startswith("JOB_COMPLETION_INDEX=2 is set but FERRY_SHARD_COUNT is not;"), refused.value


@pytest.mark.parametrize("command", ["status", "report"])
def test_status_in_a_shards_folder_names_their_ledgers(tmp_path, monkeypatch, capsys, command):
    """The runbook has each shard write ferry.shard-I-of-N.db in the working folder, and no ferry.db:
    status and report there point at those ledgers, not at running a migration that has run."""
    from e2e_helpers import ferry
    from ferry.state import LedgerWriter

    monkeypatch.chdir(tmp_path)
    for i in (1, 2):
        with LedgerWriter(tmp_path / f"ferry.shard-{i}-of-2.db") as writer:
            writer.start_run("migrate", "job.toml")
            writer.end_run("ok")
    assert ferry(command) == 2
    line = capsys.readouterr().err.strip()
    assert line == ("ferry: error: ferry.db: no ledger here, but the shards' are: ferry.shard-1-of-2.db, "
                    "ferry.shard-2-of-2.db; pass one with --state, or read them all with ferry report --merge "
                    "ferry.shard-*.db")
    assert not (tmp_path / "ferry.db").exists()


def test_report_merge_calls_a_killed_shard_crashed(tmp_path, monkeypatch, capsys):
    """A shard whose pod was killed mid-run leaves its run 'running': the merged report's list of shards
    says 'crashed' for it, as status and report do, so the operator knows which child to resubmit."""
    from e2e_helpers import ferry
    from ferry.state import LedgerWriter
    from ferry.state.ledger import writer_lock

    monkeypatch.chdir(tmp_path)
    for i in (1, 2):
        with writer_lock(f"ferry.shard-{i}-of-2.db"), LedgerWriter(f"ferry.shard-{i}-of-2.db") as writer:
            writer.start_run("migrate", "job.toml")
            if i == 2:
                writer.end_run("ok")  # shard 1's process stopped before it could record its end
    assert ferry("report", "--merge", "ferry.shard-1-of-2.db", "ferry.shard-2-of-2.db", "-o", "merged.md") == 0
    parts = capsys.readouterr().err.splitlines()
    assert parts == ["ferry.shard-1-of-2.db: 0 items, last run 1 migrate crashed",
                     "ferry.shard-2-of-2.db: 0 items, last run 1 migrate ok"]


def test_report_merge_names_the_shards_whose_ledgers_it_was_not_given(tmp_path, monkeypatch, capsys):
    """A child that never wrote its ledger (still queued behind the compute environment's capacity, or
    stopped before its first write) is simply not matched by ``ferry.shard-*-of-3.db``: the merged report
    must say it is partial, not show the other shards' items as the whole job, nothing pending."""
    from e2e_helpers import ferry
    from ferry.state import LedgerWriter

    monkeypatch.chdir(tmp_path)
    for i in (1, 3):
        with LedgerWriter(f"ferry.shard-{i}-of-3.db") as writer:
            writer.start_run("migrate", "job.toml")
            writer.end_run("ok")
    assert ferry("report", "--merge", "ferry.shard-1-of-3.db", "ferry.shard-3-of-3.db", "-o", "merged.json") == 0
    err = capsys.readouterr().err.splitlines()
    missing = ("ferry.shard-2-of-3.db: not given, so shard 2 of 3's packages are not in this report; run that "
               "shard, or add its ledger")
    assert err == ["ferry.shard-1-of-3.db: 0 items, last run 1 migrate ok",
                   "ferry.shard-3-of-3.db: 0 items, last run 1 migrate ok", missing]
    assert json.loads((tmp_path / "merged.json").read_text())["notes"] == [missing]

    # all of a count's shards given (another count's beside them: N changed mid-migration): nothing missing
    with LedgerWriter("ferry.shard-2-of-3.db") as writer:
        writer.start_run("migrate", "job.toml")
        writer.end_run("ok")
    with LedgerWriter("ferry.shard-1-of-1.db") as writer:
        writer.start_run("migrate", "job.toml")
        writer.end_run("ok")
    assert ferry("report", "--merge", *sorted(str(p.name) for p in tmp_path.glob("ferry.shard-*.db")),
                 "-o", "merged.json") == 0
    assert "not given" not in capsys.readouterr().err
    assert json.loads((tmp_path / "merged.json").read_text())["notes"] == []

    # several missing of many: one line naming them
    with LedgerWriter("ferry.shard-3-of-8.db") as writer:
        writer.start_run("migrate", "job.toml")
    assert ferry("report", "--merge", "ferry.shard-3-of-8.db", "-o", "merged.json") == 0
    assert capsys.readouterr().err.splitlines()[-1] == (
        "ferry.shard-I-of-8.db for I = 1, 2, 4, 5, 6, 7, 8: not given, so those 7 shards' packages are not in "
        "this report; run those shards, or add their ledgers")

    # a name claiming more shards than there can be is a ledger named by --state, not counted up to its N
    from ferry.state.merge import shards_not_given

    assert shards_not_given(["run.shard-1-of-10001.db"]) == []


def test_a_shard_started_twice_is_told_to_wait_not_to_take_another_ledger(tmp_path, monkeypatch, capsys):
    """The same shard started while it still runs (an array job submitted again while its children run): the
    lock refuses it, and the advice must not be the unsharded run's "or give this run another --state", which
    would have two runs move the same packages at once, each in a ledger ``report --merge`` does not expect."""
    from e2e_helpers import aws_env, ferry
    from ferry.state.ledger import writer_lock

    aws_env(monkeypatch, tmp_path)
    monkeypatch.setenv("NEXUS_PASSWORD", "not-used")
    for key in ("AWS_BATCH_JOB_ARRAY_INDEX", "AWS_BATCH_JOB_ARRAY_SIZE", "JOB_COMPLETION_INDEX", "FERRY_SHARD_COUNT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    job = tmp_path / "job.toml"
    job.write_text('[source]\nkind = "nexus"\nurl = "http://127.0.0.1:9"\nusername = "admin"\n'
                   'password_env = "NEXUS_PASSWORD"\n\n[target]\ndomain = "acme"\nregion = "us-east-1"\n'
                   'endpoint_url = "http://127.0.0.1:9"\n\n[[repositories]]\nsource = "npm-internal"\n'
                   'target = "npm-store"\n')
    with writer_lock("ferry.shard-2-of-4.db"):
        monkeypatch.setenv("JOB_COMPLETION_INDEX", "1")
        monkeypatch.setenv("FERRY_SHARD_COUNT", "4")
        assert ferry("migrate", str(job), "--no-progress") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (f"ferry: error: ferry.shard-2-of-4.db: another ferry run is writing this ledger (process "
                       f"{os.getpid()}): shard 2/4 is running already; wait for that run to end, or stop it")
    assert not (tmp_path / "ferry.shard-2-of-4.db").exists()
