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
mapfile -t pp < <(find puppet/modules puppet/standalone -name '*.pp' | sort)
puppet parser validate --modulepath puppet/modules:puppet/standalone:/usr/share/puppet/modules "${pp[@]}" || bad "parser validate"
for f in $(find puppet/modules puppet/standalone -name '*.epp' | sort); do
    puppet epp validate "$f" || bad "epp validate $f"
done

step "puppet-lint --fail-on-warnings, with Wikimedia's style (tests/puppet/lint/wmf_style.rb)"
ruby tests/puppet/lint.rb --fail-on-warnings puppet/modules puppet/standalone || bad "puppet-lint"

step "the wmf_style check finds each kind of problem it knows (tests/puppet/lint/bad)"
got=$(ruby tests/puppet/lint.rb --only-checks wmf_style --log-format '%{path}:%{line}: %{message}' tests/puppet/lint/bad \
    | sed 's#tests/puppet/lint/bad/##' || true)
if [ "$got" != "$(cat tests/puppet/lint/bad.expected)" ]; then
    diff -u tests/puppet/lint/bad.expected <(echo "$got") >&2
    bad "wmf_style on tests/puppet/lint/bad differs from tests/puppet/lint/bad.expected"
fi

step "the drop-in files define nothing operations/puppet already has"
# What goes into operations/puppet (docs/deployment.md): everything under
# puppet/modules except the stand-in profile::cassandra. Its classes,
# defines, functions and types must all be kask's.
while IFS= read -r f; do
    case "$f" in puppet/modules/profile/manifests/cassandra.pp) continue ;; esac
    while IFS= read -r name; do
        case "$name" in
            kask | kask::* | profile::kask | profile::kask::* | Profile::Kask::* | role::kask::*) ;;
            *) bad "$f defines $name, which is not kask's (it could collide with operations/puppet)" ;;
        esac
    done < <(sed -nE 's/^(class|define|function|type) +([A-Za-z0-9_:]+).*/\2/p' "$f")
done < <(find puppet/modules -name '*.pp' -not -path '*/spec/*' | sort)

step "metadata-json-lint"
for m in puppet/modules/*/metadata.json puppet/standalone/*/metadata.json; do
    metadata-json-lint --strict-license --no-strict-dependencies "$m" || bad "metadata $m"
done

step "YAML of the Hiera samples and module data parses"
for f in $(find hiera-samples -name '*.yaml' | sort); do
    ruby -ryaml -e 'YAML.safe_load(File.read(ARGV[0]))' "$f" || bad "YAML $f"
done

step "REFERENCE.md is what puppet strings generates"
for m in puppet/modules/*/ puppet/standalone/*/; do
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
