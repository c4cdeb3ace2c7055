#!/usr/bin/env bash
# State that lives as long as the process must not grow with the stream: `learn` over the first 1M and over 10M
# events of one generated stream, with a snapshot store; prints peak RSS and the final snapshot's size for each,
# and fails when either differs by more than 5%.
set -euo pipefail
bin=${1:-.build/release/streamlearn}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" generate logistic --events 10000000 --seed 7 "$work/10m.jsonl"
head -n 1000000 "$work/10m.jsonl" >"$work/1m.jsonl"
python3 - "$bin" "$work" <<'PY'
import os, resource, subprocess, sys
bin, work = sys.argv[1], sys.argv[2]
rows = []
for name in ("1m", "10m"):
    store = os.path.join(work, "store-" + name)
    # A fresh interpreter per run, so RUSAGE_CHILDREN's maximum is this run's alone.
    rss = subprocess.run(
        [sys.executable, "-c",
         "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
         bin, "learn", "--snapshot-dir", store, os.path.join(work, name + ".jsonl")],
        check=True, capture_output=True, text=True).stdout.strip()
    snapshot = max(f for f in os.listdir(store) if f.startswith("snapshot-"))
    rows.append((name, int(rss), os.path.getsize(os.path.join(store, snapshot))))
print(f"{'events':>8}  {'peak RSS (KiB)':>15}  {'snapshot (bytes)':>17}")
for name, rss, size in rows:
    print(f"{name.upper():>8}  {rss:>15,}  {size:>17,}")
(_, rss1, size1), (_, rss10, size10) = rows
ratio_rss, ratio_size = rss10 / rss1, size10 / size1
print(f"10M / 1M: peak RSS {ratio_rss:.3f}, snapshot {ratio_size:.4f}")
sys.exit(0 if max(abs(ratio_rss - 1), abs(ratio_size - 1)) <= 0.05 else 1)
PY
