"""The training acceptance job: the batch script (golden), its checks, and the judge of its log.

The logs judged here come from the mock's simulated NeMo (the same code the mock cluster runs),
whose format is checked against the real NeMo excerpts in tests/fixtures/real/.

Regenerate the golden scripts with `TRAINBED_UPDATE_GOLDEN=1 python -m pytest
tests/unit/test_training_job.py` and review the diff.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path

import pytest
import yaml

from lab.simhw.simload import sim_module
from tests.conftest import PROD_YAML, REPO
from tests.unit.probe_helpers import sim_log
from trainbed.errors import TrainbedError
from trainbed.inventory import load_inventory
from trainbed.inventory.model import Inventory
from trainbed.parse.nemo import parse_nemo_log
from trainbed.probes.results import build_results, results_errors
from trainbed.probes.thresholds import derive_thresholds
from trainbed.probes.training import (
    TrainingError,
    judge_training,
    model_overrides,
    training_job,
)
from trainbed.render.containers import pyxis_image

GOLDEN = REPO / "tests" / "golden" / "training" / "prod"
SIM = REPO / "lab" / "simhw" / "sim"
REAL = REPO / "tests" / "fixtures" / "real"
nemo_sim = sim_module("nemo_sim")


@pytest.fixture(scope="module")
def prod() -> Inventory:
    return load_inventory(PROD_YAML).inventory


def _variant(tmp_path: Path, edit) -> Inventory:
    doc = yaml.safe_load(PROD_YAML.read_text())
    doc = copy.deepcopy(doc)
    edit(doc)
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_inventory(path).inventory


@pytest.mark.parametrize(("model", "nodes"), [("llama2-7b", 2), ("llama2-70b", 6)])
def test_golden_batch_script(prod: Inventory, model: str, nodes: int) -> None:
    job = training_job(prod, model, nodes)
    golden = GOLDEN / f"{model}-{nodes}n.sbatch"
    if os.environ.get("TRAINBED_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(job.script)
    assert job.script == golden.read_text()


def test_script_carries_the_papers_configuration(prod: Inventory) -> None:
    job = training_job(prod, "llama2-70b", 6)
    assert job.name == "trainbed-training-llama2-70b-6n"
    assert job.log_file == "trainbed-training-llama2-70b-6n.log"
    assert job.time_limit == "06:15:00"  # 230 min × 1.5 + 30 min
    for line in (
        "#SBATCH --nodes=6",
        "#SBATCH --ntasks-per-node=8",
        "#SBATCH --gpus-per-node=8",
        "#SBATCH --exclusive",
        "#SBATCH --partition=gpu",
        f"#SBATCH --output={job.log_file}",
        "--container-image='nvcr.io#nvidia/nemo:23.11'",
        "trainer.num_nodes=6",
        "trainer.max_steps=500",
        "model.tensor_model_parallel_size=4",
        "model.pipeline_model_parallel_size=4",
        "model.micro_batch_size=1",
        "model.global_batch_size=144",
        "model.encoder_seq_length=4096",
        "model.num_query_groups=8",
        "exp_manager.create_checkpoint_callback=False",
        "model.data.data_impl=mock",
        "export NCCL_IB_HCA='=mlx5_0:1,mlx5_3:1,mlx5_4:1,mlx5_5:1,mlx5_6:1,mlx5_9:1,mlx5_10:1,mlx5_11:1'",
    ):
        assert line in job.script, line
    assert training_job(prod, "llama2-7b", 2).time_limit == "02:02:00"


def _sbatch_options(script: str) -> dict[str, str]:
    options = [line.removeprefix("#SBATCH ") for line in script.splitlines()]
    return {
        option.partition("=")[0]: option.partition("=")[2]
        for option, line in zip(options, script.splitlines(), strict=True)
        if line.startswith("#SBATCH ")
    }


@pytest.mark.parametrize("nodes", [1, 2])
def test_fewer_cpus_than_gpus_overcommits_the_step_not_the_allocation(nodes: int) -> None:
    # Slurm 22.05.8 refuses `--ntasks=8 --overcommit --gpus-per-node=8` on one 2-CPU node and
    # 24.11 at any node count ("Requested node configuration is not available"): the
    # allocation asks for one task per node, the step for one task per GPU, overcommitted.
    mock = load_inventory(REPO / "inventory" / "mock.yaml").inventory
    assert mock.compute[0].profile.cpu.cpus < mock.compute[0].profile.gpus.count
    script = training_job(mock, "llama2-7b", nodes).script
    options = _sbatch_options(script)
    assert options["--nodes"] == str(nodes)
    assert options["--ntasks-per-node"] == "1"
    assert "--ntasks" not in options and "--overcommit" not in options
    step = f"srun \\\n  --ntasks={nodes * 8} \\\n  --ntasks-per-node=8 \\\n  --overcommit \\\n"
    assert step in script


def test_script_overrides_are_keys_of_nemos_config() -> None:
    keys = nemo_sim.config_keys(SIM / "nemo_image" / "megatron_gpt_config.yaml")
    for override in model_overrides("llama2-70b", 6, 8, "/mnt/datasets/pile/pile_text_document"):
        assert override.split("=", 1)[0] in keys, override


def test_dataset_is_mounted_and_used(tmp_path: Path) -> None:
    def edit(doc: dict) -> None:
        doc["containers"]["nemo"]["dataset"] = "/mnt/datasets/pile/pile_text_document"

    inv = _variant(tmp_path, edit)
    script = training_job(inv, "llama2-7b", 2).script
    assert "/mnt/datasets/pile:/mnt/datasets/pile:ro" in script
    assert "'model.data.data_prefix=[1.0,/mnt/datasets/pile/pile_text_document]'" in script
    assert "model.data.data_impl=mmap" in script


@pytest.mark.parametrize(
    ("model", "nodes", "message"),
    [
        ("gpt3-175b", 2, "unknown model"),
        ("llama2-7b", 7, "7 node(s) requested; prod.yaml has 6"),
        ("llama2-70b", 1, "8 GPUs cannot hold TP=4 × PP=4"),
        ("llama2-7b", 5, "global batch 144 is not a multiple of DP=20"),
    ],
)
def test_impossible_jobs_are_refused(prod: Inventory, model: str, nodes: int, message: str) -> None:
    with pytest.raises(TrainingError, match=re.escape(message)):
        training_job(prod, model, nodes)


def test_no_containers_section(tmp_path: Path) -> None:
    inv = _variant(tmp_path, lambda doc: doc.pop("containers"))
    with pytest.raises(TrainbedError, match="no containers section"):
        training_job(inv, "llama2-7b", 2)


def test_pyxis_image_form() -> None:
    assert pyxis_image("nvcr.io/nvidia/nemo:23.11") == "nvcr.io#nvidia/nemo:23.11"
    assert pyxis_image("registry.local:5000/nemo:23.11") == "registry.local:5000#nemo:23.11"
    assert pyxis_image("nvidia/cuda:12.2.0-base") == "nvidia/cuda:12.2.0-base"


# --- the simulated NeMo's log, judged ----------------------------------------------------------


def test_simulated_log_reads_like_real_nemo() -> None:
    text = sim_log(steps=20)
    real = (REAL / "nemo_ptl_progress_grep_llama31_70b_h100_dgxc.txt").read_text()
    pattern = re.compile(
        r"Epoch 0: : +\d+%\|[█ ]{10}\| \d+/\d+ \[[\d:]+<[\d:]+, reduced_train_loss=[\d.]+, "
        r"global_step=[\d.]+, consumed_samples=[\d.]+, train_step_timing in s=[\d.]+\]"
    )
    assert pattern.search(real)
    assert pattern.search(text)
    assert "\r" in text  # redraws, as a Slurm output file captures them
    log = parse_nemo_log(text)
    assert [s.global_step for s in log.steps] == list(range(20))
    assert log.steps[-1].consumed_samples == 20 * 144


def test_lightning_number_format() -> None:
    # as in tests/fixtures/real: 11.00, 4.000, 960.0, 12800.0, 10.40
    assert [nemo_sim.format_num(v) for v in (11.0, 4.0, 960.0, 12800.0, 10.4, 7.3219)] == [
        "11.00",
        "4.000",
        "960.0",
        "12800.0",
        "10.40",
        "7.320",
    ]


def test_paper_pace_passes(prod: Inventory) -> None:
    verdict = judge_training(prod, "llama2-7b", 2, sim_log())
    assert verdict.passed, verdict.reasons
    assert verdict.minutes_per_500_steps == pytest.approx(61, rel=0.01)
    assert verdict.expected_minutes == 61 and verdict.expectation_measured
    assert verdict.warmup_skipped == 10 and verdict.timed_steps == 490
    assert verdict.reasons == ()


def test_twenty_percent_slower_fails_with_the_reason(prod: Inventory) -> None:
    verdict = judge_training(prod, "llama2-7b", 2, sim_log(slowdown=1.2), job_id="42")
    assert not verdict.passed
    assert verdict.minutes_per_500_steps == pytest.approx(61 * 1.2, rel=0.01)
    (reason,) = verdict.reasons
    assert re.search(r"is (19|20)\.\d% slower than expected, beyond the \+10% tolerance", reason)
    assert "expected 61.0 min (Table 4: 61 min on 2 nodes)" in reason
    assert verdict.as_dict()["job_id"] == "42"


def test_half_the_rails_runs_at_configuration_2_pace(prod: Inventory) -> None:
    verdict = judge_training(prod, "llama2-7b", 2, sim_log(hcas=4))
    assert verdict.minutes_per_500_steps == pytest.approx(63, rel=0.01)
    assert verdict.passed  # 3 % over configuration 1's 61 min, within tolerance


def test_70b_on_six_nodes(prod: Inventory) -> None:
    verdict = judge_training(prod, "llama2-70b", 6, sim_log("llama2-70b", 6))
    assert verdict.passed
    assert verdict.minutes_per_500_steps == pytest.approx(230, rel=0.01)


def test_a_job_that_stopped_early_fails(prod: Inventory) -> None:
    verdict = judge_training(prod, "llama2-7b", 2, sim_log(steps=200))
    assert not verdict.passed
    assert "the job stopped at step 200 of 500" in verdict.reasons


def test_no_log_fails(prod: Inventory) -> None:
    verdict = judge_training(prod, "llama2-7b", 2, None)
    assert not verdict.passed
    assert verdict.reasons[0] == "no NeMo log came back from the job"
    assert verdict.minutes_per_500_steps is None


def test_verdicts_join_the_results_document(prod: Inventory) -> None:
    verdicts = [
        judge_training(prod, "llama2-7b", 2, sim_log()),
        judge_training(prod, "llama2-7b", 2, sim_log(slowdown=1.2)),
    ]
    doc = build_results(
        cluster="xe9680-validation",
        inventory_file=PROD_YAML,
        started="2024-04-01T10:00:00+00:00",
        finished="2024-04-01T11:00:00+00:00",
        schedule={"ib_write_bw": {"rails": [], "rounds": []}, "nccl": []},
        thresholds=derive_thresholds(prod),
        nccl=[],
        ib_write_bw=[],
        suites=["training"],
        training=verdicts,
    )
    assert results_errors(doc) == []
    assert doc["suites"] == ["training"]
    assert not doc["passed"]
    assert doc["summary"]["training_failed"] == 1
    alone = build_results(
        cluster="x",
        inventory_file=PROD_YAML,
        started="2024-04-01T10:00:00+00:00",
        finished=None,
        schedule={"ib_write_bw": {"rails": [], "rounds": []}, "nccl": []},
        thresholds=derive_thresholds(prod),
        nccl=[],
        ib_write_bw=[],
        suites=["training"],
        training=verdicts[:1],
    )
    assert alone["passed"] and results_errors(alone) == []
