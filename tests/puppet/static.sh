#!/bin/bash
# Static checks of the Puppet code, the Hiera samples and the Vagrantfile.
# Run by `make test-puppet` (after it, the rspec-puppet specs run).
set -euo pipefail
cd "$(dirname "$0")/../.."

fail=0
step() { echo "== $*"; }
bad() { echo "FAIL: $*" >&2; fail=1; }

step "deployment-prep.yaml is the operators' sample, byte for byte"
# sha256 of the Hiera sample from the SessionStorage page (as given to this
# project); the file must never be edited.
want=4277505605eaaf6549301c36157db0e8ed39c7a5d94e4d7e290e886265d64e29
got=$(sha256sum hiera-samples/deployment-prep.yaml | cut -d' ' -f1)
[ "$got" = "$want" ] || bad "hiera-samples/deployment-prep.yaml changed (sha256 $got)"

step "puppet parser validate"
mapfile -t pp < <(find puppet/modules -name '*.pp' | sort)
puppet parser validate --modulepath puppet/modules:/usr/share/puppet/modules "${pp[@]}" || bad "parser validate"
for f in $(find puppet/modules -name '*.epp' | sort); do
    puppet epp validate "$f" || bad "epp validate $f"
done

step "puppet-lint --fail-on-warnings"
puppet-lint --fail-on-warnings puppet/modules || bad "puppet-lint"

step "metadata-json-lint"
for m in puppet/modules/*/metadata.json; do
    metadata-json-lint --strict-license --no-strict-dependencies "$m" || bad "metadata $m"
done

step "YAML of the Hiera samples and module data parses"
for f in hiera-samples/*.yaml hiera-samples/*/*.yaml puppet/modules/*/hiera.yaml puppet/modules/*/data/*.yaml; do
    ruby -ryaml -e 'YAML.safe_load(File.read(ARGV[0]))' "$f" || bad "YAML $f"
done

step "REFERENCE.md is what puppet strings generates"
for m in puppet/modules/*/; do
    tmp=$(mktemp -d)
    cp -r "$m". "$tmp/"
    (cd "$tmp" && RUBYOPT=-W0 puppet strings generate --format markdown --out REFERENCE.md >/dev/null 2>&1) || bad "puppet strings in $m"
    if ! diff -u "$m/REFERENCE.md" "$tmp/REFERENCE.md" >/dev/null; then
        bad "${m}REFERENCE.md is stale: run 'make puppet-reference'"
    fi
    rm -rf "$tmp"
done

step "vagrant validate"
(cd vagrant && VAGRANT_CHECKPOINT_DISABLE=1 vagrant validate) || bad "vagrant validate"

if [ "$fail" -ne 0 ]; then
    echo "tests/puppet/static.sh: FAILED" >&2
    exit 1
fi
echo "tests/puppet/static.sh: all static checks passed"
