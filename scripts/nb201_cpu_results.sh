#!/usr/bin/env bash
# RESULTS.md's NB201 comparison at CPU scale: every method of configs/nb201_cifar10_cpu.py over seeds, then
# the report. Resumable: rerun the same command and finished seeds are kept, unfinished ones continue from
# their last checkpoint.
#
#   scripts/nb201_cpu_results.sh IMAGES BENCHMARK ROOT [SEEDS]
#
# IMAGES: CIFAR-10 as an image folder (train/<class>/*.jpg); BENCHMARK: the NB201 table; ROOT: where the runs
# go (outside the repository); SEEDS: default 0-3. Seed by seed, every method of that seed in turn (so an
# unfinished set still compares all methods on the seeds it has); the report goes to ROOT/report (report.md,
# report.json and the PNGs).
set -euo pipefail
images=${1:?give the CIFAR-10 image folder}
benchmark=${2:?give the NB201 table}
root=${3:?give a directory for the runs}
seeds=${4:-0-3}
here=$(cd "$(dirname "$0")/.." && pwd)
config="$here/configs/nb201_cifar10_cpu.py:$images"

declare -A methods=(
  [shapley]="--config.search.method=shapley"
  [shapley_paper]="--config.search.method=shapley --config.alpha_rule.name=paper"
  [darts_1st]="--config.search.method=darts_1st"
  [darts_2nd]="--config.search.method=darts_2nd"
  [rsps]="--config.search.method=rsps"
)
order=(shapley shapley_paper darts_1st darts_2nd rsps)
for seed in $(python -c "import sys; sys.path.insert(0, '$here/scripts'); from run_seeds import parse_seeds; \
print(*parse_seeds('$seeds'))"); do
  for method in "${order[@]}"; do
    # shellcheck disable=SC2086  # the method's options are separate words
    python "$here/scripts/run_seeds.py" --config "$config" --seeds "$seed" --workdir "$root/$method" \
      --config.search.benchmark="$benchmark" ${methods[$method]}
  done
done
python "$here/scripts/nb201_report.py" --runs "${order[@]/#/$root/}" --benchmark "$benchmark" --out "$root/report"
