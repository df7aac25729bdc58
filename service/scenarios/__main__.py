"""``python -m service.scenarios``: list scenarios, print the catalogue, a request or a Bundle.

python -m service.scenarios --list
python -m service.scenarios --catalogue > service/scenarios/CATALOGUE.md
python -m service.scenarios --request classic-oih --hook patient-view --as-of 2025-06-30
python -m service.scenarios --bundle classic-oih --as-of 2025-06-30
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

from service.scenarios.builder import build_request, list_scenarios, patient_bundle
from service.scenarios.catalogue import render_catalogue


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.scenarios", description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--list", action="store_true", help="one line per scenario")
    group.add_argument("--catalogue", action="store_true", help="print CATALOGUE.md")
    group.add_argument("--request", metavar="NAME", help="print a hook request body")
    group.add_argument("--bundle", metavar="NAME", help="print the patient's collection Bundle")
    parser.add_argument("--hook", default=None, help="hook for --request (default: the scenario's)")
    parser.add_argument("--as-of", type=date.fromisoformat, default=None, help="day 0 (YYYY-MM-DD)")
    args = parser.parse_args(argv)

    if args.list:
        for info in list_scenarios():
            sys.stdout.write(f"{info.name:40} {info.hook:13} {info.story}\n")
        return 0
    if args.catalogue:
        sys.stdout.write(render_catalogue())
        return 0
    as_of = args.as_of
    if as_of is None:
        from service.clock import system_clock

        as_of = system_clock().date()
    if args.request:
        infos = {i.name: i for i in list_scenarios()}
        if args.request not in infos:
            parser.error(f"no scenario called {args.request!r}")
        hook = args.hook or infos[args.request].hook
        body = build_request(args.request, hook, as_of)
    else:
        body = patient_bundle(args.bundle, as_of)
    sys.stdout.write(json.dumps(body, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
