"""`switchyard replay` and `switchyard ope`: the simulator and OPE from the command line.

    switchyard replay --trace azure-conv --world outage-of-best --policy openrouter --policy thompson --out var/replay
    switchyard ope --log var/replay/telemetry.duckdb --logging-policy uniform --policy cheapest

`add_subcommands(subparsers)` registers both on the `switchyard` parser; heavy imports wait until
a command runs.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["add_subcommands", "run_replay", "run_ope"]


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    replay = subparsers.add_parser("replay", help="replay a trace through policies in a simulated world")
    replay.add_argument("--trace", required=True, help="azure-code, azure-conv, mooncake, or a .parquet/.csv/.duckdb file")
    replay.add_argument("--world", default="steady", help="scenario name (steady, outage-of-best, price-cut, "
                        "slow-degradation, rate-limited-cheap) or a YAML file")
    replay.add_argument("--policy", action="append", required=True,
                        help="registered policy name (repeatable), 'oracle', or 'all'")
    replay.add_argument("--seed", type=int, default=0)
    replay.add_argument("--out", default="var/replay", help="output directory (report.json, telemetry.duckdb, PNGs)")
    replay.add_argument("--limit", type=int, default=None, help="replay only the first N requests")
    replay.add_argument("--speedup", type=float, default=1.0, help="compress (>1) or stretch (<1) arrival times")
    replay.add_argument("--feedback-delay", type=float, default=0.0, help="seconds before outcomes reach the policy")
    replay.add_argument("--no-oracle", action="store_true", help="do not add the oracle's row")
    replay.set_defaults(func=run_replay)

    ope = subparsers.add_parser("ope", help="off-policy evaluation of policies on a telemetry log")
    ope.add_argument("--log", required=True, help="telemetry DuckDB file (gateway or `switchyard replay` output)")
    ope.add_argument("--policy", action="append", required=True, help="target policy name (repeatable)")
    ope.add_argument("--logging-policy", default=None, help="use only events logged by this policy")
    ope.add_argument("--bootstrap", type=int, default=500)
    ope.add_argument("--seed", type=int, default=0)
    ope.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ope.set_defaults(func=run_ope)


def _console():
    import sys

    from rich.console import Console

    # Piped output (CI logs, files) gets a wide table instead of rich's 80-column default.
    return Console() if sys.stdout.isatty() else Console(width=170)


def _policy_names(requested: list[str], with_oracle: bool) -> list[str]:
    from ..registry import available_policies
    from .replay import ORACLE

    names: list[str] = []
    for name in requested:
        names.extend(available_policies() if name == "all" else [name])
    if with_oracle and ORACLE not in names:
        names.insert(0, ORACLE)
    return list(dict.fromkeys(names))


def run_replay(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .eventlog import events_frame, write_events
    from .replay import ReplayConfig, bind_world, replay
    from .report import build_report, plot_report, print_report
    from .traces import load_trace, rescale_time

    console = _console()
    trace = load_trace(args.trace, limit=args.limit)
    if args.speedup != 1.0:
        trace = rescale_time(trace, args.speedup)
    world = bind_world(args.world, trace)
    config = ReplayConfig(seed=args.seed, feedback_delay_s=args.feedback_delay)
    names = _policy_names(args.policy, with_oracle=not args.no_oracle)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    database = out / "telemetry.duckdb"
    database.unlink(missing_ok=True)  # one replay per file: rerunning must not mix runs
    results = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("replay", total=trace.height * len(names))
        for name in names:
            progress.update(task, description=f"replay {name}")
            result = replay(trace, world, name, config, progress=lambda n: progress.advance(task, n))
            write_events(database, [events_frame(result, trace, run_id=f"seed{args.seed}")])
            results.append(result)
    report = build_report(results, str(args.trace), seed=args.seed)
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    plots = plot_report(report, out)
    print_report(report, console)
    console.print(f"wrote {out / 'report.json'}, {database}, " + ", ".join(str(p) for p in plots))
    return 0


def run_ope(args: argparse.Namespace) -> int:
    import duckdb
    from rich.table import Table

    from ..ope import BanditLog, evaluate
    from ..registry import make_policy

    with duckdb.connect(str(args.log), read_only=True) as connection:
        events = connection.sql("SELECT * FROM events").pl()
    logging_policies = sorted(events["policy"].unique().drop_nulls().to_list())
    if args.logging_policy is not None:
        events = events.filter(events["policy"] == args.logging_policy)
    elif len(logging_policies) > 1:
        raise SystemExit(f"{args.log} holds events of several policies ({', '.join(logging_policies)}): "
                         "choose one with --logging-policy")
    if events.height == 0:
        raise SystemExit(f"no events for logging policy {args.logging_policy!r}; present: {', '.join(logging_policies)}")
    log = BanditLog.from_events(events)
    logged_value = float(log.rewards.mean())
    rows = []
    for name in args.policy:
        for estimate in evaluate(log, make_policy(name), n_bootstrap=args.bootstrap, seed=args.seed):
            rows.append({"policy": name, **vars(estimate)})
    if args.json:
        print(json.dumps({"log": str(args.log), "requests": log.n, "logged_value": logged_value, "estimates": rows},
                         indent=1))
        return 0
    table = Table(title=f"OPE on {log.n} logged requests (logging policy's own mean utility {logged_value:.3f})")
    for column in ("policy", "estimator", "value", "95% CI", "ESS"):
        table.add_column(column, justify="left" if column in ("policy", "estimator") else "right")
    for row in rows:
        table.add_row(row["policy"], row["estimator"], f"{row['value']:.4f}",
                      f"[{row['ci_low']:.4f}, {row['ci_high']:.4f}]", f"{row['ess']:.0f}")
    _console().print(table)
    return 0
