"""Write layers/common/gateway_common/routes.json from template.yaml's API events (``python -m local.route_list``)."""

from __future__ import annotations

import json

from local import template
from local.paths import ROOT


def current() -> list[str]:
    return sorted(f"{method} {path}" for f in template.http_functions() for (method, path) in f.routes)


def main() -> None:
    target = ROOT / "layers" / "common" / "gateway_common" / "routes.json"
    target.write_text(json.dumps({"routes": current()}, indent=1) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
