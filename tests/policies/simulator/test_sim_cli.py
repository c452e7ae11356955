import argparse
import json

import duckdb
import pytest

from policies.simulator.cli import add_subcommands


def _parser():
    parser = argparse.ArgumentParser(prog="switchyard")
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    return parser


def test_replay_writes_report_events_and_plots(tmp_path, capsys):
    args = _parser().parse_args(["replay", "--trace", "azure-code", "--world", "outage-of-best", "--policy", "uniform",
                                 "--policy", "cheapest", "--limit", "600", "--seed", "3", "--out", str(tmp_path)])
    assert args.func(args) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["world"]["synthetic"] is True and "Synthetic" in report["world"]["note"]
    assert [p["policy"] for p in report["policies"]] == ["oracle", "uniform", "cheapest"]
    oracle, uniform, _ = report["policies"]
    assert oracle["regret_mean"] == 0.0 and uniform["regret_mean"] > 0.0
    assert set(uniform["latency_s"]) == {"p50", "p95", "p99"} and uniform["requests"] == 600
    assert sum(uniform["traffic_share"].values()) == pytest.approx(1.0)
    with duckdb.connect(str(tmp_path / "telemetry.duckdb"), read_only=True) as connection:
        policies = connection.sql("SELECT policy, count(DISTINCT request_id) FROM events GROUP BY 1 ORDER BY 1").fetchall()
    assert policies == [("cheapest", 600), ("oracle", 600), ("uniform", 600)]
    assert (tmp_path / "traffic_share.png").stat().st_size > 10_000
    assert "uniform" in capsys.readouterr().out

    ope = _parser().parse_args(["ope", "--log", str(tmp_path / "telemetry.duckdb"), "--logging-policy", "uniform",
                                "--policy", "cheapest", "--bootstrap", "50", "--json"])
    assert ope.func(ope) == 0
    output = json.loads(capsys.readouterr().out)
    assert output["requests"] == 600
    assert {e["estimator"] for e in output["estimates"]} == {"IPS", "SNIPS", "DM", "DR"}

    mixed = _parser().parse_args(["ope", "--log", str(tmp_path / "telemetry.duckdb"), "--policy", "cheapest"])
    with pytest.raises(SystemExit, match="--logging-policy"):
        mixed.func(mixed)
