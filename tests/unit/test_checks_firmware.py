"""Firmware and VBIOS verdicts across compute nodes: a clear majority, a split, a lock."""

from __future__ import annotations

from trainbed.checks.firmware import node_version, problems, reference

LOCK_PATH = "profiles.xe9680.firmware.hca"
NEW, OLD = "28.39.1002", "28.37.1014"


def hcas(version: str, count: int = 8) -> dict[str, str]:
    return {f"mlx5_{i}": version for i in range(count)}


def verdicts(observed, lock=None, what="HCA firmware") -> dict[str, list[str]]:
    ref = reference(observed, what, lock, LOCK_PATH)
    return {node: problems(node, devices, ref, what) for node, devices in observed.items()}


def test_one_against_one_is_a_split_naming_both_sides_and_blaming_neither() -> None:
    found = verdicts({"gpu01": hcas(OLD), "gpu02": hcas(NEW)})
    message = (
        f"HCA firmware split across compute nodes: {OLD} on gpu01; {NEW} on gpu02 "
        f"(no version on most of them; lock one in {LOCK_PATH})"
    )
    assert found == {"gpu01": [message], "gpu02": [message]}
    assert "expected" not in message


def test_a_clear_majority_names_the_minority_only() -> None:
    found = verdicts({"gpu01": hcas(OLD), "gpu02": hcas(NEW), "gpu03": hcas(NEW)})
    assert found["gpu02"] == found["gpu03"] == []
    devices = ", ".join(f"mlx5_{i}" for i in range(8))
    assert found["gpu01"] == [
        f"gpu01 {devices} HCA firmware: expected {NEW} (as on 2 of 3 compute nodes), got {OLD}"
    ]


def test_two_against_two_is_a_split() -> None:
    observed = {"a": hcas(OLD), "b": hcas(NEW), "c": hcas(OLD), "d": hcas(NEW)}
    found = verdicts(observed)
    assert all(len(v) == 1 and f"{OLD} on a, c; {NEW} on b, d" in v[0] for v in found.values())


def test_one_hca_off_on_a_node_is_named_by_device() -> None:
    odd = {**hcas(NEW), "mlx5_7": OLD}
    found = verdicts({"gpu01": hcas(NEW), "gpu02": odd})
    assert found["gpu01"] == []
    assert found["gpu02"] == [
        f"gpu02 mlx5_7 HCA firmware: expected {NEW} (as on 2 of 2 compute nodes), got {OLD}"
    ]


def test_a_lock_names_every_device_off_it_whatever_the_majority() -> None:
    found = verdicts({"gpu01": hcas(OLD), "gpu02": hcas(NEW), "gpu03": hcas(NEW)}, lock=OLD)
    assert found["gpu01"] == []
    for node in ("gpu02", "gpu03"):
        (line,) = found[node]
        assert line.startswith(f"{node} mlx5_0, mlx5_1")
        assert line.endswith(f"HCA firmware: expected {OLD} (locked in {LOCK_PATH}), got {NEW}")


def test_a_lock_names_the_one_healthy_looking_side_of_a_split() -> None:
    found = verdicts({"gpu01": hcas(OLD), "gpu02": hcas(NEW)}, lock=NEW)
    assert found["gpu02"] == []
    assert "gpu01 mlx5_0" in found["gpu01"][0] and f"got {OLD}" in found["gpu01"][0]


def test_vbios_lock_names_node_gpu_expected_and_got() -> None:
    observed = {"gpu01": {"GPU 0": "96.00.74.00.01", "GPU 1": "96.00.74.00.0D"}}
    found = verdicts(observed, lock="96.00.74.00.01", what="VBIOS")
    assert found["gpu01"] == [
        f"gpu01 GPU 1 VBIOS: expected 96.00.74.00.01 (locked in {LOCK_PATH}), got 96.00.74.00.0D"
    ]


def test_all_agree_passes_and_nothing_answered_has_no_reference() -> None:
    assert verdicts({"gpu01": hcas(NEW), "gpu02": hcas(NEW)}) == {"gpu01": [], "gpu02": []}
    assert reference({}, "HCA firmware", None, LOCK_PATH).version is None


def test_node_version_needs_more_than_half_of_its_devices() -> None:
    assert node_version({"a": NEW, "b": NEW, "c": OLD}) == NEW
    assert node_version({"a": NEW, "b": OLD}) is None
    assert node_version({}) is None
