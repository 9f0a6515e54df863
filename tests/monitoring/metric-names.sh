#!/bin/bash
# Every kask metric an alerting rule uses must be one kask exports: a rule on
# a misspelt or missing metric never fires, and promtool cannot tell.
#
# The names are taken from the rules' `expr:` (kask_* and http_* series,
# histogram suffixes removed) and looked up as string literals in src/,
# where kask registers its metrics. Prometheus' own series (up) are not
# looked up.
# Usage: tests/monitoring/metric-names.sh RULES.yml
set -uo pipefail
cd "$(dirname "$0")/../.."
rules=${1:?usage: $0 RULES.yml}

names=$(python3 - "$rules" <<'PY'
import re, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
seen = set()
for group in doc["groups"]:
    for rule in group["rules"]:
        for name in re.findall(r"\b((?:kask|http)_[a-z0-9_]+)", rule["expr"]):
            seen.add(re.sub(r"_(bucket|sum|count)$", "", name))
print("\n".join(sorted(seen)))
PY
) || { echo "FAIL: cannot read $rules"; exit 1; }
[ -n "$names" ] || { echo "FAIL: no kask metric in $rules"; exit 1; }

failed=0
for n in $names; do
    if grep -rqF "\"$n\"" src/; then
        echo "PASS: $n is a metric of kask"
    else
        echo "FAIL: $n is used by $rules but kask exports no such metric (no \"$n\" in src/)"
        failed=$((failed + 1))
    fi
done
[ "$failed" -eq 0 ]
