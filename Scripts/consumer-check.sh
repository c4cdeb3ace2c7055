#!/usr/bin/env bash
# A package outside this one depends on StreamLearn by version, as users' packages do: this repository's HEAD is
# cloned, tagged, and Scripts/consumer (OnlineLearning, the engine, a job and the test kit) is built against the
# clone with `from:` and run. SwiftPM refuses `unsafeFlags` in a dependency taken by version, so this fails if a
# library target ever carries one.
set -euo pipefail
cd "$(dirname "$0")/.."
work=.build/consumer-check
version=0.1.0
rm -rf "$work"
mkdir -p "$work"
git clone -q . "$work/streamlearn"
git -C "$work/streamlearn" tag "$version"
mkdir -p "$work/consumer"
cp -R Scripts/consumer/Sources "$work/consumer/"
sed -e "s|@URL@|file://$PWD/$work/streamlearn|" -e "s|@VERSION@|$version|" Scripts/consumer/Package.swift.in \
    >"$work/consumer/Package.swift"
log="$PWD/$work/build.log"
output=$(cd "$work/consumer" && swift run -q Consumer 2>"$log") || { cat "$log"; exit 1; }
expected='learner: p(0.9) > 0.5: true
engine: learned 1000 events
job: 5 decisions, 0 dead letters'
if [ "$output" != "$expected" ]; then
    printf 'consumer-check: expected\n%s\ngot\n%s\n' "$expected" "$output"
    exit 1
fi
echo "consumer-check: a package depending on StreamLearn $version by version builds and runs"
