"""Why a job is pending, as Slurm says it, classified: it waits normally, or it will never run.

squeue's reason column (``%r``) shows the job's description when slurmctld set one
(``ReqNodeNotAvail, UnavailableNodes:gpu02``, ``Nodes required for job are DOWN, DRAINED or
reserved for jobs in higher priority partitions``) and otherwise the name of its
``job_state_reason`` (``Priority``, ``PartitionDown``). :func:`classify` takes either.

Three kinds:

- :data:`WAITING`: clears by itself as other jobs end or time passes (``Priority``,
  ``Resources``, group and per-user usage limits). Behind a job of the run that is stuck, these
  clear when the watcher cancels that job; behind someone else's job they wait, within the run's
  bound.
- :data:`STUCK`: the job will not run without someone's intervention (a required node down or
  drained, the partition down, a per-job limit the job exceeds, a hold, an impossible dependency).
- :data:`ENDED`: the reasons Slurm gives a job that ended (``NonZeroExitCode``, ``TimeLimit``);
  a pending job shows one only when it was requeued, and Slurm starts it again by itself.

Every name of Slurm's ``job_state_reason`` table (22.05 to 25.05) is classified here:
``tests/fixtures/slurm/job_state_reasons.txt`` holds Slurm's list and the tests check it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WAITING = "waiting"
STUCK = "stuck"
ENDED = "ended"
UNKNOWN = "unknown"

_W, _S, _E = WAITING, STUCK, ENDED

#: Reason name → (kind, what it means for the job). Limit families are in :func:`_limit_kind`.
REASONS: dict[str, tuple[str, str]] = {
    "None": (_W, "no reason given yet (just submitted)"),
    "Prolog": (_W, "the prolog is running"),
    "Priority": (_W, "jobs of higher priority are ahead of it"),
    "Resources": (_W, "its nodes are busy with other jobs"),
    "Dependency": (_W, "waits for a job it depends on"),
    "BeginTime": (_W, "its begin time has not come (a requeued job waits a little)"),
    "Licenses": (_W, "waits for licenses"),
    "Reservation": (_W, "waits for its reservation to become usable"),
    "Cleaning": (_W, "its nodes are still cleaning up after a previous run"),
    "SchedDefer": (_W, "scheduling deferred (SchedulerParameters=defer)"),
    "FedJobLock": (_W, "waits for the federation's job lock"),
    "BurstBufferResources": (_W, "waits for burst buffer space"),
    "BurstBufferStageIn": (_W, "burst buffer stage-in in progress"),
    "PowerNotAvail": (_W, "waits for power to be available"),
    "PowerReserved": (_W, "power reserved for other jobs"),
    "MaxPoweredUpNodes": (_W, "waits for powered-up nodes to be released"),
    "MpiPortsBusy": (_W, "the MPI ports are all in use"),
    "NvidiaImexChannels": (_W, "waits for an NVIDIA IMEX channel"),
    "BlockFreeAction": (_W, "waits for a block to be freed"),
    "JobArrayTaskLimit": (_W, "its array's task limit is reached"),
    "AccountingPolicy": (_W, "an accounting limit is reached"),
    "QOSUsageThreshold": (_W, "the QOS usage threshold is reached"),
    "AssociationJobLimit": (_W, "the association's job limit is reached"),
    "AssociationResourceLimit": (_W, "the association's resource limit is reached"),
    "QOSJobLimit": (_W, "the QOS's job limit is reached"),
    "QOSResourceLimit": (_W, "the QOS's resource limit is reached"),
    "ReqNodeNotAvail": (_S, "a node it requires is down, drained or reserved"),
    "NodeDown": (_S, "a node it requires is down"),
    "FrontEndDown": (_S, "no front end node is available"),
    "PartitionDown": (_S, "the partition is down"),
    "PartitionInactive": (_S, "the partition is inactive"),
    "PartitionConfig": (_S, "the partition's configuration does not allow the request"),
    "PartitionNodeLimit": (_S, "it asks for more nodes than the partition allows"),
    "PartitionTimeLimit": (_S, "its time limit exceeds the partition's"),
    "BadConstraints": (_S, "its constraints cannot be satisfied"),
    "Constraints": (_S, "its constraints cannot be satisfied"),
    "InvalidAccount": (_S, "its account is invalid"),
    "InvalidQOS": (_S, "its QOS is invalid"),
    "QOSNotAllowed": (_S, "its QOS is not allowed"),
    "AccountNotAllowed": (_S, "its account is not allowed in the partition"),
    "JobHeldAdmin": (_S, "held by an administrator"),
    "JobHeldUser": (_S, "held by its user"),
    "JobHoldMaxRequeue": (_S, "held after being requeued too often"),
    "DependencyNeverSatisfied": (_S, "its dependency can never be satisfied"),
    "ReservationDeleted": (_S, "its reservation was deleted"),
    "ReservationInvalid": (_S, "its reservation is invalid"),
    "SystemFailure": (_S, "Slurm failed to run it (system failure)"),
    "BurstBufferOperation": (_S, "a burst buffer operation failed"),
    "MaxMemPerLimit": (_S, "it asks for more memory than MaxMemPerNode/CPU allows"),
    "AssociationTimeLimit": (_S, "its time limit exceeds the association's"),
    "QOSTimeLimit": (_S, "its time limit exceeds the QOS's"),
    "BlockMaxError": (_S, "its block has too many errors"),
    "NonZeroExitCode": (_E, "it ended with a non-zero exit code"),
    "RaisedSignal": (_E, "it ended by a signal"),
    "TimeLimit": (_E, "it reached its time limit"),
    "InactiveLimit": (_E, "it reached the inactive limit"),
    "OutOfMemory": (_E, "it ran out of memory"),
    "DeadLine": (_E, "it reached its deadline"),
    "JobLaunchFailure": (_E, "its launch failed"),
}

# Limits named <QOS|Assoc|"">[Grp|Max|Min]<TRES><scope>: a group's or a user's/account's usage
# clears as their other jobs end; a per-job or per-node limit, or a minimum, is about this job's
# own request and never clears.
_PER_JOB = re.compile(r"(PerJob|PerNode)(Limit)?$|^QOSMin|^(QOS|Assoc)Max\w*PerJobLimit$")
_USAGE = re.compile(r"Grp|PerUser|PerAccount|RunMins|MaxJobs|MaxSubmit")


def _limit_kind(name: str) -> tuple[str, str] | None:
    if not re.match(r"(QOS|Assoc|Max)", name):
        return None
    if _PER_JOB.search(name):
        return _S, f"the job's own request breaks a per-job limit ({name})"
    if _USAGE.search(name):
        return _W, f"a usage limit is reached ({name}); it clears as other jobs end"
    return None


#: Descriptions slurmctld sets instead of a reason name (slurmctld/*.c ``state_desc``).
_DESCRIPTIONS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (
        re.compile(r"^Nodes required for job are DOWN, DRAINED"),
        _S,
        "a node it requires is down or drained (or held for a higher-priority partition)",
    ),
    (re.compile(r"^Job is at or exceeds "), _W, "a QOS or association limit is reached"),
    (
        re.compile(r"^Reservation \S+(, which .*)? (was deleted|has ended|is invalid)"),
        _S,
        "its reservation is gone",
    ),
    (re.compile(r"requeued (and )?held|held"), _S, "held (launch failed or requeued held)"),
)


@dataclass(frozen=True, slots=True)
class PendingReason:
    """A pending job's reason as squeue printed it, with its name, kind and meaning."""

    text: str
    name: str | None
    kind: str
    meaning: str

    @property
    def stuck(self) -> bool:
        return self.kind == STUCK

    def describe(self) -> str:
        """``PartitionDown (will never run: the partition is down)``."""
        label = {STUCK: "will never run", WAITING: "waits", ENDED: "requeued"}.get(
            self.kind, "unclassified"
        )
        return f"{self.text} ({label}: {self.meaning})"


def reason_name(text: str) -> str:
    """The leading reason name of squeue's text: ``ReqNodeNotAvail, Unavail…`` → ``ReqNodeNotAvail``.

    scontrol writes descriptions with ``_`` for spaces (``ReqNodeNotAvail,_UnavailableNodes``).
    """
    return re.split(r"[,:(\s]", text.strip(), maxsplit=1)[0]


def classify(text: str | None) -> PendingReason:
    """The kind of a pending reason (a name from Slurm's table, or a description)."""
    text = (text or "None").strip() or "None"
    name = reason_name(text)
    known = REASONS.get(name) or _limit_kind(name)
    if known is not None and name == text:
        return PendingReason(text, name, *known)
    spaced = text.replace("_", " ")
    for pattern, kind, meaning in _DESCRIPTIONS:
        if pattern.search(spaced):
            return PendingReason(text, None, kind, meaning)
    if known is not None:  # ``ReqNodeNotAvail, UnavailableNodes:…``, ``RaisedSignal:9(…)``
        return PendingReason(text, name, *known)
    return PendingReason(text, None, UNKNOWN, "a reason trainbed does not know; it waits")
