#!/usr/bin/env bash
# Issue 16's GPU checks in one go, ≤ 8 minutes on an H200-class GPU; every figure goes to $OUT:
#   machine.txt        nvidia-smi, torch build, load average
#   gpu_tests.txt      tests/test_gpu.py (no host sync inside a step, CUDA graph = eager step = CPU run)
#   bench_gpu.{txt,json}  python -m bench --only 8,5b: trainer vs plain loop on the GPU (8a ≤ 0.5×, loop ≤ 0.1 s),
#                      batch 512 (8b), CUDA graph vs eager (8c), and the MNIST network's full check (5b, on the CPU)
#   mnist_5_epochs.*   python -m engine train --preset mnist --epochs 5 --device cuda (accuracy, seconds per epoch)
#   landscape.*        a 41×41 loss landscape, if `python -m engine landscape` exists
# Needs: a Python with torch (CUDA build) and the project's requirements (PY=…, default .venv/bin/python), and the
# MNIST cache .backprop-lab/mnist/mnist.pt (55 MB; the device machine is offline: carry it along).
# Run from the repository root:  OUT=/some/dir bash bench/gpu_check.sh
set -u
OUT=${OUT:-bench/results/gpu}
mkdir -p "$OUT"
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
{ nvidia-smi; "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
torch.cuda.get_device_name() if torch.cuda.is_available() else '')"; uptime; } > "$OUT/machine.txt" 2>&1
timeout 90 "$PY" -m pytest -q -rA -m cuda tests/test_gpu.py > "$OUT/gpu_tests.txt" 2>&1
echo "exit status $?" >> "$OUT/gpu_tests.txt"
timeout 240 "$PY" -m bench --only 8,5b --repeats 5 --json "$OUT/bench_gpu.json" > "$OUT/bench_gpu.txt" 2>&1
echo "exit status $?" >> "$OUT/bench_gpu.txt"
timeout 90 "$PY" -m engine train --preset mnist --epochs 5 --device cuda --no-store \
  > "$OUT/mnist_5_epochs.txt" 2>&1
echo "exit status $?" >> "$OUT/mnist_5_epochs.txt"
if "$PY" -m engine landscape --help > "$OUT/landscape_help.txt" 2>&1; then
  timeout 30 "$PY" -m engine landscape --preset mnist --grid 41 --device cuda > "$OUT/landscape.txt" 2>&1
  echo "exit status $? (check the flags against landscape_help.txt)" >> "$OUT/landscape.txt"
else
  echo "no 'python -m engine landscape' command in this checkout" > "$OUT/landscape.txt"
fi
tail -n 20 "$OUT"/*.txt
