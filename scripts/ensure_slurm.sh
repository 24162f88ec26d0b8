#!/usr/bin/env bash
# Debian's slurm-wlm and munge for the scale-out tests (a single-node SLURM the tests start
# themselves in a temporary folder). Installed only when running as root and missing; otherwise
# the command is printed and the SLURM test is skipped with the reason.
set -euo pipefail
if command -v slurmctld >/dev/null 2>&1 && command -v munged >/dev/null 2>&1 && command -v sbatch >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "note: SLURM not installed; the SLURM test will be skipped (as root: apt-get install slurm-wlm munge)" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
echo "installed slurm-wlm $(slurmd -V | awk '{print $2}') and munge"
