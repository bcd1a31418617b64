"""A fake submit host for the probe run: files in memory, Slurm's commands answered from a plan.

Each job's fate is chosen by its run name (``single-gpu01``, ``round1``, ``all``):

- ``ok``: PENDING, RUNNING, then COMPLETED; it writes the output the real tools would.
- ``reject``: sbatch refuses it.
- ``timeout``: RUNNING, then Slurm ends it as TIMEOUT (no output).
- ``hang``: RUNNING forever (Slurm lost it): the watcher must give up on its own.
- ``stuck``: PENDING forever with reason ReqNodeNotAvail (a node is down).
- ``fail``: exits non-zero after writing a failing NCCL output (a GPU is missing).
- ``completing``: writes its output, then stays COMPLETING in squeue (sacct: COMPLETED).

A job whose script writes an archive (``probe-archive.j2``) leaves it when it ends, packing what
exists of its manifest, as ``tar`` on the node does; ``archives`` (run name → ``lost`` or
``partial``) makes one never appear or end cut short.

Nodes answer ``scontrol show node`` in Slurm 22.05's format (as captured on the mock cluster);
``node_events`` changes a node's state at a time of the fake clock, as a dead slurmd does: from
then on a job that needs the node pends with ``ReqNodeNotAvail, UnavailableNodes:<node>`` and a
job running on it stays COMPLETING (sacct: FAILED), as the mock cluster's Slurm does.
``signal_at`` sends the test process a signal at the first squeue at or after a time.

The controllers (cp1 primary, cp2 backup) answer ``scontrol ping`` in Slurm's format. From
``primary_down_at`` (a clock time) the primary answers nothing; the backup, while it runs, answers
pings but serves no RPC until ``takeover_after`` seconds later (None: never): in between every
client command blocks, as in Slurm's retry loop, until the takeover or the command's time-out.
With no backup running, client commands fail at once with Slurm's connection error.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import tarfile
from dataclasses import dataclass, field

from tests.unit.probe_helpers import ib_text, lat_text, nccl_text, sim_log
from trainbed.remote import Completed
from trainbed.remote import command as shell_command

NCCL_GPU_MISSING = (
    "# nccl-tests version 2.17.9 nccl-headers=22105 nccl-library=22105\n"
    "# Collective test starting: all_reduce_perf\n"
    "#\n# Using devices\n"
    "gpu02: Test CUDA failure common.cu:1012 'invalid device ordinal'\n"
    " .. gpu02 pid 1234: Test failure common.cu:891\n"
)


@dataclass
class FakeJob:
    job_id: str
    name: str
    fate: str
    script: str
    polls: int = 0
    state: str = "PENDING"
    started: float | None = None
    reason: str = "None"
    submitted: float = 0.0


@dataclass
class FakeSubmitHost:
    fates: dict[str, str] = field(default_factory=dict)
    host: str = "login1"
    now: float = 0.0
    files: dict[str, str] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)  # binary files (the jobs' archives)
    archives: dict[str, str] = field(default_factory=dict)
    jobs: dict[str, FakeJob] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    slowdown: float = 1.0  # the simulated NeMo's pace against the white paper's
    workdir: str = ""  # where sbatch ran the last job (a relative --output lands there)
    #: (time, node, State= as scontrol prints it, Reason or None), applied in time order.
    node_events: list[tuple[float, str, str, str | None]] = field(default_factory=list)
    signal_at: tuple[float, int] | None = None
    stuck_reason: str = "ReqNodeNotAvail,_UnavailableNodes:gpu02"
    #: Send ``signal_at``'s signal from inside the n-th sbatch instead (an interrupt mid-sbatch).
    signal_in_sbatch: tuple[int, int] | None = None
    #: From this time on every Slurm command hangs until its timeout (a controller that hangs).
    hang_from: float | None = None
    controllers: tuple[str, ...] = ("cp1", "cp2")
    primary_down_at: float | None = None
    takeover_after: float | None = None
    backup_up: bool = True
    takeover_blip_s: float = 0.0  # the backup answers no ping for this long before it takes over
    takeover_loses_jobs: bool = False  # the backup does not share the primary's saved state
    sbatch_calls: int = 0

    def in_control(self) -> str | None:
        """The controller serving RPCs now, if any."""
        if self.primary_down_at is None or self.now < self.primary_down_at:
            return self.controllers[0]
        if self._takeover_at() is not None and self.now >= self._takeover_at():
            return self.controllers[1]
        return None

    def _takeover_at(self) -> float | None:
        if len(self.controllers) < 2 or not self.backup_up or self.takeover_after is None:
            return None
        assert self.primary_down_at is not None
        return self.primary_down_at + self.takeover_after

    def _blocked(self, command: str, timeout: float) -> Completed | None:
        """None when a controller serves ``command`` (after a wait, if it blocked); else its failure."""
        if self.in_control() is not None:
            return None
        if not self.backup_up or len(self.controllers) < 2:
            self.now += 1.0
            name = command.split("&&")[-1].split()
            word = next((w for w in name if w in ("sbatch", "squeue", "sinfo", "scancel")), "")
            prefix = {
                "sbatch": "sbatch: error: Batch job submission failed: ",
                "squeue": "slurm_load_jobs error: ",
                "sinfo": "slurm_load_partitions: ",
                "scancel": "scancel: error: Kill job error: ",
            }.get(word, "")
            error = f"{prefix}Unable to contact slurm controller (connect failure)\n"
            return Completed(command, 1, "", error)
        takeover = self._takeover_at()
        if takeover is not None and takeover - self.now <= timeout:
            self.now = takeover
            return None
        self.now += timeout
        return Completed(command, None, "", "timed out")

    def _ping(self, command: str) -> Completed:
        primary_up = self.primary_down_at is None or self.now < self.primary_down_at
        takeover = self._takeover_at()
        blip = takeover is not None and takeover - self.takeover_blip_s <= self.now < takeover
        self.now += 0.1
        states = [primary_up] + [self.backup_up and not blip] * (len(self.controllers) - 1)
        roles = ["primary"] + (
            ["backup"] if len(self.controllers) == 2 else [f"backup{i}" for i in range(1, 9)]
        )
        lines = [
            f"Slurmctld({role}) at {host} is {'UP' if up else 'DOWN'}"
            for role, host, up in zip(roles, self.controllers, states, strict=False)
        ]
        if not all(states):
            lines += ["*" * 41, "** RESTORE SLURMCTLD DAEMON TO SERVICE **", "*" * 41]
        return Completed(command, 0 if any(states) else 1, "\n".join(lines) + "\n", "")

    # -- the clock the watcher runs on
    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    # -- SubmitHost
    def run(self, command: str, *args: object, timeout: float = 60.0) -> Completed:
        command = shell_command(command, *args)
        self.commands.append(command)
        if command.startswith("mkdir -p"):
            path = shlex.split(command)[3]
            path = path if path.startswith("/") else f"/home/probe/{path}"
            return Completed(command, 0, f"{path}\n" if "pwd" in command else "", "")
        if self.hang_from is not None and self.now >= self.hang_from:
            self.now += timeout
            return Completed(command, None, "", "timed out")
        if command == "scontrol ping":
            return self._ping(command)
        if (
            command.startswith(("squeue", "scancel"))
            or "sbatch --parsable" in command
            or ("sinfo" in command)
        ):
            if "sbatch --parsable" in command:
                self.sbatch_calls += 1
            blocked = self._blocked(command, timeout)
            if blocked is not None:
                return blocked
        if "sinfo" in command:
            return Completed(command, 0, "gpu\n", "")
        if "sbatch --parsable" in command:
            return self._sbatch(command)
        if command.startswith("squeue"):
            return self._squeue(command)
        if command.startswith("sacct"):
            return self._sacct(command)
        if command.startswith("scancel"):
            for job_id in shlex.split(command)[1:]:
                job = self.jobs[job_id]
                self.cancelled.append(job.job_id)
                if job.state not in ("COMPLETED", "FAILED", "TIMEOUT"):
                    job.state = "CANCELLED"
            return Completed(command, 0, "", "")
        if command.startswith("scontrol show node"):
            return self._scontrol_show_node(command)
        return Completed(command, 127, "", f"unexpected command {command}")

    def write_text(self, path: str, text: str, mode: int = 0o644) -> None:
        self.files[path] = text

    def read_text(self, path: str) -> str | None:
        return self.files.get(path)

    def read_bytes(self, path: str) -> bytes | None:
        if path in self.blobs:
            return self.blobs[path]
        text = self.files.get(path)
        return None if text is None else text.encode()

    def close(self) -> None:
        pass

    # -- Slurm
    def _sbatch(self, command: str) -> Completed:
        words = shlex.split(command)
        workdir, script = words[1], words[-1]
        self.workdir = workdir
        text = self.files[f"{workdir}/{script}"]
        name = re.search(r"--job-name=trainbed-(?:nccl-|ib-)?(\S+)", text).group(1)
        fate = self.fates.get(name, "ok")
        if fate == "reject":
            return Completed(
                command,
                1,
                "",
                "sbatch: error: Batch job submission failed: "
                "Requested node configuration is not available\n",
            )
        job_id = str(100 + len(self.jobs))
        self.jobs[job_id] = FakeJob(job_id, name, fate, text, submitted=self.now)
        if self.signal_in_sbatch is not None and len(self.jobs) == self.signal_in_sbatch[0]:
            os.kill(os.getpid(), self.signal_in_sbatch[1])
        return Completed(command, 0, f"{job_id};cluster\n", "")

    def node_state(self, node: str) -> tuple[str, str | None]:
        state: tuple[str, str | None] = ("IDLE", None)
        for at, name, text, reason in sorted(self.node_events, key=lambda e: e[0]):
            if name == node and at <= self.now:
                state = (text, reason)
        return state

    def dead(self, node: str) -> bool:
        text = self.node_state(node)[0]
        return text.startswith("DOWN") or "NOT_RESPONDING" in text or "DRAIN" in text

    def _scontrol_show_node(self, command: str) -> Completed:
        from trainbed.hostlist import expand_hostlist

        records = []
        for node in expand_hostlist(shlex.split(command)[3]):
            state, reason = self.node_state(node)
            records.append(
                f"NodeName={node} Arch=x86_64 CoresPerSocket=2 \n"
                "   CPUAlloc=0 CPUEfctv=2 CPUTot=2 CPULoad=0.52\n"
                "   Gres=gpu:8\n"
                f"   NodeAddr={node} NodeHostName={node} Version=22.05.8\n"
                f"   State={state} ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A\n"
                "   Partitions=gpu \n"
                "   CfgTRES=cpu=2,mem=2G,billing=2,gres/gpu=8\n"
                + (f"   Reason={reason} [slurm@2026-12-01T09:49:03]\n" if reason else "")
            )
        return Completed(command, 0, "\n".join(records), "")

    def _advance(self, job: FakeJob) -> None:
        job.polls += 1
        if job.state in ("COMPLETED", "FAILED", "TIMEOUT", "CANCELLED"):
            return
        dead = [n for n in self._nodelist(job).split(",") if self.dead(n)]
        if dead and job.state == "PENDING":
            job.reason = f"ReqNodeNotAvail, UnavailableNodes:{dead[0]}"
            return
        if dead and job.state in ("RUNNING", "COMPLETING"):
            job.state = "COMPLETING"  # slurmd never confirms the end
            return
        job.reason = "None"
        if job.fate == "stuck":
            return
        if job.state == "PENDING":
            job.state, job.started = "RUNNING", self.now
            return
        if job.fate == "hang":
            return
        if job.fate == "completing":  # the script ended, the node never confirms the epilog
            if job.state == "RUNNING":
                self._write_outputs(job)
                self._archive(job)
                job.state = "COMPLETING"
            return
        if job.fate == "timeout":
            job.state = "TIMEOUT"
        elif job.fate == "fail":
            self._write_outputs(job, failing=True)
            job.state = "FAILED"
        else:
            self._write_outputs(job)
            job.state = "COMPLETED"
        self._archive(job)

    def _known(self, job_id: str) -> bool:
        """Whether the controller in control knows ``job_id``."""
        takeover = self._takeover_at()
        if not self.takeover_loses_jobs or takeover is None or self.now < takeover:
            return True
        return self.jobs[job_id].submitted >= takeover

    def _squeue(self, command: str) -> Completed:
        if self.signal_at is not None and self.now >= self.signal_at[0]:
            signum, self.signal_at = self.signal_at[1], None
            os.kill(os.getpid(), signum)
        ids = [i for i in command.rsplit("-j ", 1)[1].split(",") if self._known(i)]
        if not ids:
            return Completed(command, 1, "", "slurm_load_jobs error: Invalid job id specified\n")
        lines = []
        for job_id in ids:
            job = self.jobs[job_id]
            self._advance(job)
            reason = self.stuck_reason if job.fate == "stuck" else job.reason
            elapsed = int(self.now - job.started) if job.started is not None else 0
            lines.append(
                f"{job_id}|{job.state}|{reason}|{elapsed // 60}:{elapsed % 60:02d}|"
                f"{self._nodelist(job)}"
            )
        return Completed(command, 0, "\n".join(lines) + "\n", "")

    def _sacct(self, command: str) -> Completed:
        # Accounting (slurmdbd) keeps every job, whichever controller knows it.
        ids = command.rsplit("-j ", 1)[1].split(",")
        lines = []
        for job_id in ids:
            job = self.jobs[job_id]
            code = {"COMPLETED": "0:0", "FAILED": "1:0", "TIMEOUT": "0:15"}.get(job.state, "0:0")
            state = job.state
            if state == "COMPLETING":  # the accounting record has ended (as on the mock cluster)
                state = "COMPLETED" if job.fate == "completing" else "FAILED"
            lines.append(f"{job_id}|{state}|{code}|42|{self._nodelist(job)}")
        return Completed(command, 0, "\n".join(lines) + "\n", "")

    @staticmethod
    def _nodelist(job: FakeJob) -> str:
        pinned = re.search(r"--nodelist=(\S+)", job.script)
        if pinned:
            return pinned.group(1)
        count = int(re.search(r"--nodes=(\d+)", job.script).group(1))  # any nodes: the first ones
        return ",".join(f"gpu{i:02d}" for i in range(1, count + 1))

    def _write_outputs(self, job: FakeJob, failing: bool = False) -> None:
        log = re.search(r"--output=(\S+)", job.script).group(1)
        nodes = self._nodelist(job).split(",")
        if job.name.startswith("training-"):
            model, count = re.fullmatch(r"training-(.+)-(\d+)n", job.name).groups()
            self.files[f"{self.workdir}/{log}"] = sim_log(model, int(count), slowdown=self.slowdown)
            return
        if job.name.startswith("round"):
            self.files[log] = ""
            node_script = self.files[log.removesuffix(".out") + ".node.sh"]
            for program, device, output in re.findall(
                r"^\s*(?:\[[^]]*\] && )?client \d+ (ib_write_\w+) (\S+) \d+ \S+ (\S+)",
                node_script,
                re.MULTILINE,
            ):
                lat = program == "ib_write_lat"
                self.files[output] = lat_text(1.6, device) if lat else ib_text(394.0, device)
            return
        if failing:
            self.files[log] = NCCL_GPU_MISSING
            return
        self.files[log] = nccl_text(480.0 if len(nodes) == 1 else 370.0, nodes)

    def _archive(self, job: FakeJob) -> None:
        """What the script's exit trap does: tar the manifest's existing files, then rename."""
        found = re.search(r"-C (\S+) .*\n.*-T (\S+)", job.script)
        target = re.search(r"mv -f \S+ (\S+)", job.script)
        fate = self.archives.get(job.name)
        if found is None or target is None or fate == "lost":
            return
        rundir, manifest = (shlex.split(w)[0] for w in found.groups())
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for member in self.files[manifest].splitlines():
                text = self.files.get(f"{rundir}/{member}")
                if text is not None:
                    data = text.encode()
                    info = tarfile.TarInfo(member)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
        data = buffer.getvalue()
        self.blobs[shlex.split(target.group(1))[0]] = (
            data[: len(data) // 2] if fate == "partial" else data
        )
