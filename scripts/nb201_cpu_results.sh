#!/usr/bin/env bash
# RESULTS.md's NB201 comparison at CPU scale: every method of configs/nb201_cifar10_cpu.py over seeds (the
# paper's Shapley-NAS algorithm, the original code's, DARTS of both orders, RSPS), then the report. Resumable: rerun the same command and finished seeds are kept, unfinished ones continue from
# their last checkpoint.
#
#   scripts/nb201_cpu_results.sh IMAGES BENCHMARK ROOT [SEEDS [--config.KEY=VALUE ...]]
#   POPULATION=1 scripts/nb201_cpu_results.sh ...   # each method's seeds as one vmapped population first
#
# IMAGES: CIFAR-10 as an image folder (train/<class>/*.jpg); BENCHMARK: the NB201 table; ROOT: where the runs
# go (outside the repository); SEEDS: default 0-3; further options go to every search (e.g. smaller sizes).
# Every search gets --config.model.init=torch first (classifiers initialised like torch.nn.Linear), as
# RESULTS.md's rows ran; an option given here overrides it. Seed by seed, every method of that seed in turn
# (so an unfinished set still compares all methods on the seeds it has). After each seed's DARTS searches, the paper's
# DARTS+Shapley ablation of both orders (scripts/darts_plus_shapley.py: one Shapley estimate on the DARTS run's
# final supernet, a few minutes). The report goes to ROOT/report (report.md, report.json and the PNGs).
set -euo pipefail
images=${1:?give the CIFAR-10 image folder}
benchmark=${2:?give the NB201 table}
root=${3:?give a directory for the runs}
seeds=${4:-0-3}
shift $(( $# < 4 ? $# : 4 ))
here=$(cd "$(dirname "$0")/.." && pwd)
config="$here/configs/nb201_cifar10_cpu.py"

# method: the config's algorithm argument (paper: mean + eqs. 6-7, 5 warm-up epochs; reference: the original
# code's mean minus std and z-score rule, 6 warm-up epochs, as RESULTS.md's reference and baseline rows ran)
# and the method's options
declare -A algorithms=([shapley_paper]=paper [shapley_reference]=reference [darts_1st]=reference
                       [darts_2nd]=reference [rsps]=reference)
declare -A methods=(
  [shapley_paper]="--config.search.method=shapley"
  [shapley_reference]="--config.search.method=shapley"
  [darts_1st]="--config.search.method=darts_1st"
  [darts_2nd]="--config.search.method=darts_2nd"
  [rsps]="--config.search.method=rsps"
)
order=(shapley_paper shapley_reference darts_1st darts_2nd rsps)
search() {  # search METHOD SEEDS [run_seeds options]
  local method=$1 which=$2
  shift 2
  # shellcheck disable=SC2086  # the method's options are separate words
  python "$here/scripts/run_seeds.py" --config "$config:$images,${algorithms[$method]}" --seeds "$which" \
    --workdir "$root/$method" --config.search.benchmark="$benchmark" --config.model.init=torch \
    ${methods[$method]} "$@"
}
all_seeds=$(python -c "from shapley_nas_jax.experiments import parse_seeds; print(*parse_seeds('$seeds'))")
if [[ ${POPULATION:-0} == 1 ]]; then  # every method's seeds as one vmapped population (run_seeds.py --population)
  for method in "${order[@]}"; do
    search "$method" "$seeds" --population "$@"
  done
fi
for seed in $all_seeds; do
  for method in "${order[@]}"; do
    search "$method" "$seed" "$@"  # with POPULATION=1: finished above, only read
  done
  for darts in darts_1st darts_2nd; do
    python "$here/scripts/darts_plus_shapley.py" --run "$root/$darts/seed$seed" \
      --workdir "$root/${darts/darts_/darts_shapley_}/seed$seed" --no-progress
  done
done
roots=("${order[@]}" darts_shapley_1st darts_shapley_2nd)
python "$here/scripts/nb201_report.py" --runs "${roots[@]/#/$root/}" --benchmark "$benchmark" --out "$root/report"
