#!/usr/bin/env bash
# make fuzz: run every fuzz target for a while (default 30s each). New
# crashers land in the package's testdata/fuzz and become regression tests.
set -uo pipefail
cd "$(dirname "$0")/.."
t=${1:-30s}
failed=()
for pkg in $(go list ./...); do
	for f in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
		echo "== $pkg $f"
		go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" "$pkg" || failed+=("$pkg $f")
	done
done
if [ ${#failed[@]} -gt 0 ]; then
	printf 'failed: %s\n' "${failed[@]}"
	exit 1
fi
