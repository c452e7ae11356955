"""`switchyard` command line: serve, demo-providers, models, catalog import (and the other jobs)."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time

__all__ = ["main"]


def _serve(args: argparse.Namespace) -> int:
    from .app import create_app
    from .server import serve
    from .settings import Settings

    settings = Settings.from_env(host=args.host, port=args.port, catalog_path=args.config, demo=args.demo,
                                 policy=args.policy, data_dir=args.data_dir)
    app = create_app(settings)
    print(f"Switchyard on http://{settings.host}:{settings.port}/v1  (OpenAI base_url)", flush=True)
    serve(app, host=settings.host, port=settings.port, log_level=args.log_level, access_log=False,
          timeout_graceful_shutdown=int(settings.request_deadline_s))
    return 0


def _demo_providers(args: argparse.Namespace) -> int:
    from .services import demo_behaviours
    from .catalog import load_catalog
    from .demo import DemoProviders

    catalog = load_catalog(args.config)
    demo = DemoProviders(demo_behaviours(catalog, args.speed), port=args.port).start()
    for name in catalog.providers:
        print(f"{name:12s} {demo.base_url(name)}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        demo.stop()
    return 0


def _models(args: argparse.Namespace) -> int:
    from .catalog import load_catalog
    from .model_views import model_view

    catalog = load_catalog(args.config)
    if args.json:
        json.dump({"data": [model_view(m) for m in catalog.models.values()]}, sys.stdout, indent=2)
        print()
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(catalog.models)} models, {len(catalog.endpoints)} endpoints")
    for column in ("model", "providers", "context", "$/M in", "$/M out"):
        table.add_column(column)
    for model in sorted(catalog.models.values(), key=lambda m: m.id):
        cheapest = model.cheapest
        table.add_row(model.id, ", ".join(e.provider.name for e in model.endpoints), str(model.context_length),
                      f"{cheapest.prompt_price * 1e6:.3f}", f"{cheapest.completion_price * 1e6:.3f}")
    Console().print(table)
    return 0


def _catalog_import(args: argparse.Namespace) -> int:
    from .importers import import_catalog_file

    catalog_dict, report = import_catalog_file(args.file, fmt=args.format)
    import yaml

    text = yaml.safe_dump(catalog_dict, sort_keys=False, width=160)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    print(report, file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchyard", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--config", default=None, help="catalog file (YAML/JSON); default: the embedded catalog")
    serve.add_argument("--demo", choices=("auto", "on", "off"), default=None)
    serve.add_argument("--policy", default=None, help="routing policy name (see `switchyard policies`)")
    serve.add_argument("--data-dir", default=None, help="directory for telemetry and billing files (default ./var)")
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(func=_serve)

    demo = sub.add_parser("demo-providers", help="run the local demo upstreams on their own")
    demo.add_argument("--config", default=None)
    demo.add_argument("--port", type=int, default=9100)
    demo.add_argument("--speed", type=float, default=1.0)
    demo.set_defaults(func=_demo_providers)

    models = sub.add_parser("models", help="list the catalog")
    models.add_argument("--config", default=None)
    models.add_argument("--json", action="store_true")
    models.set_defaults(func=_models)

    catalog = sub.add_parser("catalog", help="catalog tools")
    catalog_sub = catalog.add_subparsers(dest="catalog_command", required=True)
    importer = catalog_sub.add_parser("import", help="convert an OpenRouter /models JSON or LiteLLM price file")
    importer.add_argument("file")
    importer.add_argument("--format", choices=("auto", "openrouter", "litellm"), default="auto")
    importer.add_argument("--out", default=None, help="write the catalog YAML here (default: stdout)")
    importer.set_defaults(func=_catalog_import)

    policies = sub.add_parser("policies", help="list the registered routing policies")
    policies.set_defaults(func=lambda a: print("\n".join(__import__("policies").available_policies())) or 0)

    for module in ("policies.simulator.cli", "router.billing.cli"):
        try:
            __import__(module, fromlist=["add_subcommands"]).add_subcommands(sub)
        except (ImportError, AttributeError):
            pass  # that job is not built yet
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "apscheduler"):  # one line per upstream call or job run is noise, not signal
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
