"""Execute the analyst notebooks headless (nbclient), as CI does, and check the figures they write.

Each notebook runs in quick mode with its default data (a telemetry file it simulates itself);
the health and cost notebooks also run on a given telemetry file, as an analyst would use them.
Any cell error fails the test. Executed notebooks and figures go to test-artifacts/notebooks/.
"""
from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from telemetry.rollups import rebuild_rollups
from telemetry.store import EventStore
from telemetry.synthetic import synthetic_events_frame

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = ROOT / "test-artifacts" / "notebooks"
FIGURES = {
    "provider_health": {"latency_distributions.png", "throughput.png", "error_classes.png", "uptime_over_time.png"},
    "cost": {"spend_by.png", "spend_over_time.png", "price_history.png", "fees.png"},
    "policy_comparison": {"regret_curves.png", "traffic_share.png", "comparison.png", "ope_estimates.png"},
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory) -> KernelSpecManager:
    """A kernelspec running this interpreter, whatever other Python kernels the machine has."""
    directory = tmp_path_factory.mktemp("kernels") / "switchyard-test"
    directory.mkdir()
    (directory / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "switchyard test", "language": "python"}))
    return KernelSpecManager(kernel_dirs=[str(directory.parent)], ensure_native_kernel=False)


def run_notebook(name: str, kernel_specs: KernelSpecManager, workdir: Path, **parameters) -> Path:
    """Execute notebooks/<name>.ipynb with `parameters` injected after its parameters cell (as papermill does)."""
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    position = next(i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", []))
    injected = nbformat.v4.new_code_cell("\n".join(f"{key} = {value!r}" for key, value in parameters.items()))
    injected.metadata["tags"] = ["injected-parameters"]
    notebook.cells.insert(position + 1, injected)
    manager = KernelManager(kernel_name="switchyard-test", kernel_spec_manager=kernel_specs)
    client = NotebookClient(notebook, km=manager, timeout=180, resources={"metadata": {"path": str(workdir)}})
    try:
        client.execute()
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, ARTIFACTS / f"{Path(parameters['OUT_DIR']).name}.ipynb")
    return Path(parameters["OUT_DIR"])


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


def assert_figures(out_dir: Path, expected: set[str]) -> None:
    written = {path.name for path in out_dir.glob("*.png")}
    assert expected <= written, f"missing figures: {sorted(expected - written)}"
    for name in expected:
        width, height = png_size(out_dir / name)
        assert width >= 400 and height >= 200 and (out_dir / name).stat().st_size > 5_000, name


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_notebook_runs_on_simulated_telemetry_and_writes_its_figures(name, kernel_specs, tmp_path):
    out_dir = ARTIFACTS / name
    for stale in out_dir.glob("*.png"):
        stale.unlink()
    assert_figures(run_notebook(name, kernel_specs, tmp_path, OUT_DIR=str(out_dir), QUICK=True), FIGURES[name])
    assert (out_dir / "simulated-telemetry.duckdb").exists()


@pytest.fixture(scope="module")
def gateway_like_file(tmp_path_factory) -> Path:
    """Synthetic events (many keys, 40 endpoints, all error classes), rolled up: a stand-in for a gateway's file."""
    path = tmp_path_factory.mktemp("telemetry") / "telemetry.duckdb"
    with EventStore(path) as store:
        store.append_frame(synthetic_events_frame(20_000, duration_s=3_600.0, error_rate=0.05, seed=3))
        rebuild_rollups(store)
    return path


@pytest.mark.parametrize("name", ["provider_health", "cost"])
def test_notebook_analyses_a_given_telemetry_file(name, kernel_specs, gateway_like_file, tmp_path):
    out_dir = tmp_path / f"{name}-on-given-file"
    assert_figures(run_notebook(name, kernel_specs, tmp_path, OUT_DIR=str(out_dir), TELEMETRY=str(gateway_like_file)),
                   FIGURES[name])
    assert not (out_dir / "simulated-telemetry.duckdb").exists()  # the given file was used, nothing simulated
