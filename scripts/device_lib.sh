# Shared by scripts/gpu_check.sh and scripts/gpu_train.sh (sourced): what both need to prepare for and describe the
# lent GPU machine (Python 3.12, manylinux x86-64: /work/shared/reference/gpu-device-notes.md).

# device_wheels DEST PACKAGE...: download the packages' wheels for the device's Python into DEST (no dependencies)
device_wheels() {
  local dest=$1; shift
  "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$dest" "$@"
}

# device_description: the GPU, Python / torch / CUDA and CPU lines a report starts with
device_description() {
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  "$PYTHON" -c "import platform, torch; print('Python', platform.python_version(), '| torch', torch.__version__, \
'| CUDA', torch.version.cuda, '| cuDNN', torch.backends.cudnn.version(), '| GPU:', torch.cuda.is_available())"
  lscpu | grep -m1 'Model name'
  echo "cores: $(nproc)"
}
