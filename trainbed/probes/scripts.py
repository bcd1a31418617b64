"""The suite's Slurm jobs: batch scripts rendered from the schedule and the inventory. No SSH.

Jobs, for N compute nodes (``--suite nccl,ib``):

- ``nccl-<run>``: one per NCCL run of the schedule (N single-node runs, the groups, ``all``):
  ``srun -N n --ntasks-per-node=1 all_reduce_perf -b 8 -e 8G -f 2 -g <gpus>``, one task per node
  driving all its GPUs, NCCL's environment from the renderer (``NCCL_IB_HCA`` from the rails,
  GPUDirect as the inventory says), ``NCCL_ALGO=Ring`` on multi-node runs as the schedule says.
- ``ib-round<k>``: one per ib_write_bw round (N−1 for even N, N for odd N): every pair of the
  round on every rail at once, one srun step over the round's nodes; once a node's bandwidth
  runs are done, ``ib_write_lat`` over the same pairs and rails (2 B × 1000, host memory), all
  rails at once again (each on its own HCA and fabric).

So N nodes take N single-node jobs + the groups (N/2 pairs, N/4 fours, … below N) + ``all`` + the
rounds: 2 nodes 4 jobs, 4 nodes 10, 8 nodes 22, 16 nodes 46 (about 3N). One job per pair instead
would need N(N−1)/2 ib_write_bw jobs (120 at 16 nodes), each paying Slurm's start-up cost.

Every single-node NCCL job and every ib_write_bw job also records the node's facts (driver,
ibstat, perftest version) in ``facts/<node>.txt``; see :mod:`trainbed.probes.facts`.

Each NCCL and ib_write_bw job leaves one archive, ``archives/<job>.tar.gz``: its batch script
packs what the job wrote (its log, every output, its nodes' facts: the job's manifest,
``<job>.files``) when it ends, so the admin side fetches one file per job, not one per output.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trainbed.inventory.model import ComputeNode, Inventory
from trainbed.probes.evaluate import hca_on_rail
from trainbed.probes.storage import JOB_NAME as STORAGE_JOB
from trainbed.probes.storage import storage_spec
from trainbed.probes.training import training_job
from trainbed.render.fabric import nccl_environment
from trainbed.render.templates import render, shell_word

NCCL_ARGS = ("-b", "8", "-e", "8G", "-f", "2")
#: perftest's out-of-band TCP port; rail i uses BASE + i so that all rails run at once.
IB_BASE_PORT = 18515
#: 8 MiB messages, 5000 iterations: ~1 s at NDR line rate, past the small-message penalty.
IB_OPTIONS = "-F --report_gbits -s 8388608 -n 5000 -q 1"
IB_SERVER_TIMEOUT_S = 120
IB_CLIENT_TIMEOUT_S = 60
IB_CLIENT_ATTEMPTS = 10
IB_CLIENT_RETRY_S = 1
#: ib_write_lat after the bandwidth runs: perftest's latency defaults, its own TCP ports.
IB_LAT_OPTIONS = "-F -s 2 -n 1000"
IB_LAT_BASE_PORT = IB_BASE_PORT + 100
#: Its server waits less: a partner whose bandwidth run failed rarely brings up its latency run.
IB_LAT_SERVER_TIMEOUT_S = 60
#: Its client waits for the partner's server as long as the partner's bandwidth runs may last
#: (another of its rails waiting out its server timeout), then a little.
IB_LAT_CLIENT_WAIT_S = IB_SERVER_TIMEOUT_S + 10
FACTS_SCRIPT = "facts.sh"
FACTS_DIR = "facts"
ARCHIVE_DIR = "archives"


@dataclass(frozen=True, slots=True)
class IbFiles:
    """Where one pair × rail measurement writes: the client's output and the server's, of
    ib_write_bw and of ib_write_lat."""

    node_a: str
    node_b: str
    rail: str
    client: str
    server: str
    lat_client: str
    lat_server: str


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One Slurm job of the suite, ready to stage: ``files`` maps a path under the run directory
    to its content; ``script`` is the batch script among them; ``log`` its output file."""

    name: str
    suite: str
    nodes: tuple[str, ...]
    run_name: str
    script: str
    log: str
    files: dict[str, str]
    ib_files: tuple[IbFiles, ...] = field(default=())
    time_limit: str | None = None  # sbatch --time when not the inventory's probe limit
    #: The job's one archive (absolute path), when its script writes one.
    archive: str | None = None


@dataclass(frozen=True, slots=True)
class Archive:
    """Where a job's archive goes and what it packs: ``manifest`` names the file (under the run
    directory) listing ``members``, the job's outputs relative to the run directory."""

    path: str
    manifest: str
    members: tuple[str, ...]

    def template_args(self, rundir: str) -> dict[str, str]:
        return {"archive": self.path, "manifest": f"{rundir}/{self.manifest}", "rundir": rundir}

    def manifest_text(self) -> str:
        return "".join(f"{m}\n" for m in self.members)


def job_archive(name: str, rundir: str, outputs: Sequence[str]) -> Archive:
    """The archive of job ``name`` packing ``outputs`` (absolute paths under ``rundir``)."""
    prefix = rundir.rstrip("/") + "/"
    members = tuple(dict.fromkeys(p.removeprefix(prefix) for p in outputs))
    return Archive(f"{prefix}{ARCHIVE_DIR}/{name}.tar.gz", f"{name}.files", members)


def facts_outputs(rundir: str, nodes: Sequence[str]) -> list[str]:
    """The facts files the facts script writes for ``nodes``."""
    return [f"{rundir}/{FACTS_DIR}/{n}.txt" for n in nodes]


def _compute(inventory: Inventory, hostname: str) -> ComputeNode:
    node = inventory.node(hostname)
    assert isinstance(node, ComputeNode), hostname
    return node


def _gpus(inventory: Inventory, nodes: Sequence[str]) -> int:
    return min(_compute(inventory, n).profile.gpus.count for n in nodes)


def _common(inventory: Inventory) -> dict[str, Any]:
    return {
        "source": inventory.source.name,
        "partition": inventory.probes.partition,
        "time_limit": inventory.probes.job_time_limit,
    }


def split_environment(
    envs: Mapping[str, Mapping[str, str]],
) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Per-node environments → (what every node shares, what each node sets on its own)."""
    nodes = list(envs)
    common = dict(envs[nodes[0]]) if nodes else {}
    for env in envs.values():
        common = {k: v for k, v in common.items() if env.get(k) == v}
    own = {n: {k: v for k, v in env.items() if k not in common} for n, env in envs.items()}
    return common, {n: e for n, e in own.items() if e}


def nccl_command(gpus: int, own_env: Mapping[str, Mapping[str, str]]) -> str:
    """The srun'ed command line; nodes whose NCCL settings differ get them from a small wrapper."""
    args = " ".join(["all_reduce_perf", *NCCL_ARGS, "-g", str(gpus)])
    if not own_env:
        return args
    cases = " ".join(
        f"{node}) {' '.join(f'export {k}={shell_word(v)};' for k, v in env.items())} ;;"
        for node, env in own_env.items()
    )
    wrapper = f'case "$SLURMD_NODENAME" in {cases} esac; exec "$@"'
    return f"bash -c {shlex.quote(wrapper)} all_reduce_perf {args}"


def nccl_job(inventory: Inventory, spec: Mapping[str, Any], rundir: str, facts: bool) -> JobSpec:
    """The job of one NCCL run of the schedule."""
    nodes = tuple(spec["nodes"])
    name = f"nccl-{spec['name']}"
    envs = {n: nccl_environment(inventory, _compute(inventory, n)) for n in nodes}
    common, own = split_environment(envs)
    # NCCL_DEBUG=VERSION prints "NCCL version ..." so the results record the library in use.
    env = {**common, "NCCL_DEBUG": "VERSION", **spec.get("env", {})}
    gpus = _gpus(inventory, nodes)
    log = f"{rundir}/{name}.out"
    job = {"name": name, "nodes": nodes, "log": log}
    archive = job_archive(name, rundir, [log, *(facts_outputs(rundir, nodes) if facts else [])])
    script = render(
        "probe-nccl.sbatch.j2",
        **_common(inventory),
        **archive.template_args(rundir),
        job=job,
        gpus=gpus,
        kind=spec.get("kind", "group"),
        env=env,
        facts=f"{rundir}/{FACTS_SCRIPT}" if facts else "",
        command=nccl_command(gpus, own),
    )
    return JobSpec(
        name,
        "nccl",
        nodes,
        spec["name"],
        f"{name}.sbatch",
        log,
        {f"{name}.sbatch": script, archive.manifest: archive.manifest_text()},
        archive=archive.path,
    )


def ib_job(
    inventory: Inventory,
    number: int,
    pairs: Sequence[Sequence[str]],
    rails: Sequence[str],
    rundir: str,
    facts: bool,
) -> JobSpec:
    """The job of one ib_write_bw round: every pair on every rail at once."""
    name = f"ib-round{number}"
    nodes = tuple(n for pair in pairs for n in pair)
    gpudirect = inventory.networks.infiniband.gpudirect_rdma
    per_node: dict[str, list[dict[str, Any]]] = {n: [] for n in nodes}
    outputs: list[IbFiles] = []
    for a, b in pairs:
        for index, rail in enumerate(rails):
            stem = f"{rundir}/ib/round{number}/{a}-{b}.{rail}"
            files = IbFiles(
                a,
                b,
                rail,
                f"{stem}.client.txt",
                f"{stem}.server.txt",
                f"{stem}.lat.client.txt",
                f"{stem}.lat.server.txt",
            )
            outputs.append(files)
            sides = (
                (a, "server", files.server, files.lat_server),
                (b, "client", files.client, files.lat_client),
            )
            for node, role, output, lat_output in sides:
                hca = next(h for h in _compute(inventory, node).hcas if h.rail == rail)
                extra = ["-i", str(hca.port)]
                if gpudirect and hca.nearest_gpu is not None:
                    extra.append(f"--use_cuda={hca.nearest_gpu}")
                per_node[node].append(
                    {
                        "role": role,
                        "device": hca_on_rail(inventory, node, rail),
                        "port": IB_BASE_PORT + index,
                        "lat_port": IB_LAT_BASE_PORT + index,
                        "peer": a,
                        "output": output,
                        "lat_output": lat_output,
                        "extra": extra,
                        "lat_extra": extra[:2],  # the HCA port; latency from host memory
                    }
                )
    node_script_name = f"{name}.node.sh"
    node_script = render(
        "probe-ib-node.sh.j2",
        source=inventory.source.name,
        round=number,
        per_node=per_node,
        options=IB_OPTIONS,
        lat_options=IB_LAT_OPTIONS,
        server_timeout=IB_SERVER_TIMEOUT_S,
        lat_server_timeout=IB_LAT_SERVER_TIMEOUT_S,
        client_timeout=IB_CLIENT_TIMEOUT_S,
        client_wait_s=IB_CLIENT_ATTEMPTS * IB_CLIENT_RETRY_S,
        lat_client_wait_s=IB_LAT_CLIENT_WAIT_S,
        client_retry_s=IB_CLIENT_RETRY_S,
        facts=f"{rundir}/{FACTS_SCRIPT}" if facts else "",
    )
    log = f"{rundir}/{name}.out"
    outs = [p for f in outputs for p in (f.client, f.server, f.lat_client, f.lat_server)]
    archive = job_archive(
        name, rundir, [log, *outs, *(facts_outputs(rundir, nodes) if facts else [])]
    )
    script = render(
        "probe-ib.sbatch.j2",
        **_common(inventory),
        **archive.template_args(rundir),
        job={"name": name, "nodes": nodes, "log": log},
        gpus=_gpus(inventory, nodes) if gpudirect else 0,
        round=number,
        pairs=pairs,
        rails=rails,
        node_script=f"{rundir}/{node_script_name}",
    )
    return JobSpec(
        name,
        "ib_write_bw",
        nodes,
        f"round{number}",
        f"{name}.sbatch",
        log,
        {
            f"{name}.sbatch": script,
            node_script_name: node_script,
            archive.manifest: archive.manifest_text(),
        },
        tuple(outputs),
        archive=archive.path,
    )


def facts_script(inventory: Inventory, rundir: str) -> str:
    return render(
        "probe-facts.sh.j2",
        source=inventory.source.name,
        directory=f"{rundir}/{FACTS_DIR}",
        perftest_package=inventory.software.infiniband.perftest.name,
    )


def training_spec(inventory: Inventory, model: str, nodes: int) -> JobSpec:
    """The NeMo pre-training job (``trainbed.probes.training``) as a job of the suite.

    It asks Slurm for any ``nodes`` nodes of the partition; the first ones of the inventory
    stand for them in the results.
    """
    job = training_job(inventory, model, nodes)
    hosts = tuple(node.hostname for node in inventory.compute[:nodes])
    return JobSpec(
        job.name,
        "training",
        hosts,
        job.name,
        f"{job.name}.sbatch",
        job.log_file,
        {f"{job.name}.sbatch": job.script},
        time_limit=job.time_limit,
    )


def storage_job(inventory: Inventory, schedule: Mapping[str, Any], rundir: str) -> JobSpec:
    """The storage suite's one job over the schedule's nodes (``trainbed.probes.storage``)."""
    nodes = tuple(dict.fromkeys(n for run in schedule["nccl"] for n in run["nodes"]))
    spec = storage_spec(inventory, rundir, rundir.rstrip("/").rsplit("/", 1)[-1], nodes)
    return JobSpec(STORAGE_JOB, "storage", nodes, STORAGE_JOB, spec.script, spec.log, spec.files)


def suite_jobs(
    inventory: Inventory,
    schedule: Mapping[str, Any],
    suites: Sequence[str],
    rundir: str,
    training: tuple[str, int] | None = None,
    first_round: int = 1,
) -> list[JobSpec]:
    """Every job of the selected suites, in submission order: single-node NCCL runs (the
    quick per-node gate), then the ib_write_bw rounds (numbered from ``first_round``), then the
    multi-node NCCL runs, then the storage job, then the training job (``training`` is its
    model and node count)."""
    jobs: list[JobSpec] = []
    nccl = schedule["nccl"] if "nccl" in suites else []
    jobs += [nccl_job(inventory, s, rundir, facts=True) for s in nccl if len(s["nodes"]) == 1]
    if "ib_write_bw" in suites:
        plan = schedule["ib_write_bw"]
        jobs += [
            ib_job(inventory, k, rnd, plan["rails"], rundir, facts=True)
            for k, rnd in enumerate(plan["rounds"], start=first_round)
            if rnd
        ]
    jobs += [nccl_job(inventory, s, rundir, facts=False) for s in nccl if len(s["nodes"]) > 1]
    if "storage" in suites:
        jobs.append(storage_job(inventory, schedule, rundir))
    if "training" in suites and training is not None:
        jobs.append(training_spec(inventory, *training))
    return jobs
