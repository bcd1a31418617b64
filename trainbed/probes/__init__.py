"""Bandwidth probes: what to run, how to judge it, where the fault is, and the reports.

One module per concern: ``schedule`` (which NCCL and ib_write_bw runs, in what order),
``thresholds`` (pass figures from the inventory's hardware), ``judge`` (verdicts on parsed output),
``localise`` (node, HCA or link at fault), ``results`` (the results document and its schema),
``report`` (Markdown, JUnit, heatmap) and ``evaluate``, the seam the Slurm run calls with what it
collected: ``write_reports(evaluate(inventory, ...), out_dir)``.

The run itself: ``run`` (stage, submit, follow, fetch, evaluate, report), ``scripts`` (the batch
scripts from ``templates/probe-*.j2``), ``slurm`` (sbatch, squeue, sacct, scancel over the submit
host, :class:`trainbed.remote.SshRemote`; their output parsed by :mod:`trainbed.parse.slurm`),
``watch`` (bounded following of the jobs) and ``facts`` (versions and port evidence the jobs
record, ports judged by :mod:`trainbed.verdicts.hca_port`). ``training`` is the training acceptance job's seam:
``training_job`` (the NeMo batch script) and ``judge_training`` (its log against the white
paper's Table 4).

Quick mode and the fabric: ``matching`` (quick-mode rounds and where a fault is), ``quick`` (the
quick run), ``topology`` (rounds that load every leaf–spine cable, and a bad cable named) and
``baseline`` (fleet baselines and robust-z outliers).
"""
