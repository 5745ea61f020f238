#!/usr/bin/env bash
# Build llama-cpp-python from source with CPU flags that run where they are built, into a wheel folder keyed by
# version + flags + compiler, and install it into the venv. pip's own wheel cache is never used, so a wheel compiled
# earlier with other (e.g. native/AMX) flags is never silently picked up.
#   usage: llama_build.sh VENV VERSION
#   SOCRATIC_LLAMA_CMAKE_ARGS overrides the chosen flags (e.g. "-DGGML_NATIVE=ON" for a native build).
set -euo pipefail
VENV="$1"; VERSION="$2"
WHEELS="${SOCRATIC_WHEELS:-$HOME/.cache/socratic-wheels}"

flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
has() { [[ "$flags" == *" $1 "* ]]; }
if [ -n "${SOCRATIC_LLAMA_CMAKE_ARGS:-}" ]; then
  args="$SOCRATIC_LLAMA_CMAKE_ARGS"; why="SOCRATIC_LLAMA_CMAKE_ARGS"
else
  # No AMX: ggml's AMX matmul faults on CPUs/VMs that report amx_tile without granting it (measured).
  args="-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
  why="portable"
  if [ "$(uname -m)" = "x86_64" ]; then
    has avx && args+=" -DGGML_AVX=ON" || args+=" -DGGML_AVX=OFF"
    has avx2 && args+=" -DGGML_AVX2=ON" || args+=" -DGGML_AVX2=OFF"
    has fma && args+=" -DGGML_FMA=ON" || args+=" -DGGML_FMA=OFF"
    has f16c && args+=" -DGGML_F16C=ON" || args+=" -DGGML_F16C=OFF"
    if has avx512f && has avx512bw && has avx512vl && has avx512dq; then
      args+=" -DGGML_AVX512=ON"
      has avx512_vnni && args+=" -DGGML_AVX512_VNNI=ON"
      has avx512_bf16 && args+=" -DGGML_AVX512_BF16=ON"
    else
      args+=" -DGGML_AVX512=OFF"
    fi
    has avx_vnni && args+=" -DGGML_AVX_VNNI=ON"
  fi
fi
cc_id="$( (cc --version 2>/dev/null || echo none) | head -1)"
key="$(printf '%s\n%s\n%s\n' "$VERSION" "$args" "$cc_id" | sha256sum | cut -c1-12)"
dir="$WHEELS/llama-cpp-python-$VERSION-$key"
stamp="$VENV/.socratic-llama-build"

if [ "$(sed -n 1p "$stamp" 2>/dev/null || true)" = "$key" ] && "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null; then
  echo "llama-cpp-python $VERSION: installed build $key ($why)"
  exit 0
fi
if ! ls "$dir"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "llama-cpp-python $VERSION: compiling from source ($why: $args); about 5 minutes on 2 cores"
  t0=$(date +%s)
  mkdir -p "$dir.tmp"
  CMAKE_ARGS="$args" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$VENV/bin/python" -m pip wheel -q --no-cache-dir \
    --no-deps --no-binary llama-cpp-python "llama-cpp-python==$VERSION" -w "$dir.tmp"
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
  printf '%s\n%s\n' "$args" "$cc_id" > "$dir/BUILD_FLAGS"
  echo "llama-cpp-python $VERSION: compiled in $(( $(date +%s) - t0 )) s"
else
  echo "llama-cpp-python $VERSION: reusing $dir ($why: $args)"
fi
"$VENV/bin/python" -m pip install -q --no-deps --force-reinstall --no-index "$dir"/llama_cpp_python-*.whl
printf '%s\n%s\n' "$key" "$args" > "$stamp"
