#!/usr/bin/env bash
# Wheels, and installs on a machine without a C compiler (called by .ci/run; ~3 minutes).
#
# 1. `python -m build`: an sdist, and a wheel built from it (compiled core inside).
# 2. That wheel, installed into a fresh venv where no compiler can be found (PATH holds
#    only the venv's bin and a directory without cc/gcc/clang, CC=/bin/false), uses the
#    compiled core and passes the core's contract tests against both cores.
# 3. The sdist, installed into another such venv, cannot compile the core: the install
#    still succeeds, falls back to the pure-Python core, and passes every contract test
#    against it (RINGFAST_TEST_PURE_CORE_FULLY=1: the slow ones too).
# 4. RINGFAST_REQUIRE_EXTENSIONS=1 makes that failed compile an error; RINGFAST_NO_EXTENSIONS=1
#    at build time gives a pure py3-none-any wheel.
# 5. The release workflow and [tool.cibuildwheel] are valid and select the intended builds.
#
# Needs the tests' dependencies from PyPI (as wheels: nothing may need compiling here).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
python=${PYTHON:-python}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
started=$SECONDS
say() { echo "== wheels.sh [$((SECONDS - started))s]: $*"; }

# ----------------------------------------------------------------- 1. build
say "python -m build (sdist, then a wheel from it)"
"$python" -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
sdist=$(ls "$work"/dist/ringfast-*.tar.gz)
wheel=$(ls "$work"/dist/ringfast-*.whl)
say "built $(basename "$sdist") and $(basename "$wheel")"
case "$(basename "$wheel")" in
    *-py3-none-any.whl) echo "the wheel has no compiled core: $wheel" >&2; exit 1 ;;
esac
has_core() {  # has_core WHEEL: whether the wheel carries the compiled core
    "$python" - "$1" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
sys.exit(0 if any(n.startswith("ringfast/_core.") and n.endswith((".so", ".pyd")) for n in names) else 1)
PY
}
has_core "$wheel" || { echo "no compiled core in $wheel" >&2; exit 1; }

# ----------------------------------------------------------------- a machine without a compiler
# A directory with the few tools pip and the tests call by name, and no compiler.
nocc_bin="$work/nocc-bin"
mkdir -p "$nocc_bin"
for tool in sh bash env uname; do
    ln -s "$(command -v "$tool")" "$nocc_bin/$tool"
done
nocc_env() {  # nocc_env VENV CMD...: run CMD as on a machine without a compiler
    local venv=$1
    shift
    env -u PYTHONPATH -u VIRTUAL_ENV -u RINGFAST_NO_EXTENSIONS \
        PATH="$venv/bin:$nocc_bin" CC=/bin/false CXX=/bin/false LDSHARED=/bin/false \
        VIRTUAL_ENV="$venv" "$@"
}
fresh_venv() {
    "$python" -m venv "$1"
    nocc_env "$1" python -m pip install -q --disable-pip-version-check --upgrade pip
    for cc in cc gcc clang c99; do
        if nocc_env "$1" sh -c "command -v $cc" >/dev/null; then
            echo "a compiler ($cc) is reachable in the no-compiler environment" >&2
            exit 1
        fi
    done
}
test_deps=(pytest pytest-benchmark hypothesis mmh3)
contract_tests=(
    tests/unit/test_partitioner.py tests/unit/test_assign.py tests/unit/test_node_partition.py
    tests/property tests/unit/test_pycore.py
    tests/packaging/test_core_selection.py tests/packaging/test_import_errors.py tests/packaging/test_cli.py
)
check_installed() {  # check_installed VENV EXPECTED_CORE
    nocc_env "$1" python - "$1" "$2" <<'EOF'
import os, sys
import ringfast
venv, expected = sys.argv[1], sys.argv[2]
where = os.path.realpath(ringfast.__file__)
assert where.startswith(os.path.realpath(venv) + os.sep), f"ringfast imported from {where}, not from {venv}"
assert ringfast.core_implementation == expected, f"core is {ringfast.core_implementation}, expected {expected}"
print(f"ringfast {ringfast.__version__} from {where}: core {ringfast.core_implementation}")
EOF
}
run_contract_tests() {  # run_contract_tests VENV [env assignments...]
    local venv=$1
    shift
    # from the checkout's tests, against the installed package (src/ is not on sys.path)
    (cd "$repo" && nocc_env "$venv" env "$@" python -m pytest -q -p no:cacheprovider "${contract_tests[@]}")
}

# ----------------------------------------------------------------- 2. the wheel
say "the wheel, in a fresh venv without a compiler"
fresh_venv "$work/venv-wheel"
nocc_env "$work/venv-wheel" python -m pip install -q --disable-pip-version-check --only-binary=:all: "$wheel" "${test_deps[@]}"
check_installed "$work/venv-wheel" cython
run_contract_tests "$work/venv-wheel"

# ----------------------------------------------------------------- 3. the sdist
say "the sdist, in a fresh venv without a compiler"
fresh_venv "$work/venv-sdist"
nocc_env "$work/venv-sdist" python -m pip install -q --disable-pip-version-check --only-binary=:all: "${test_deps[@]}"
nocc_env "$work/venv-sdist" python -m pip install -v --disable-pip-version-check "$sdist" >"$work/sdist-install.log" 2>&1 ||
    { cat "$work/sdist-install.log"; exit 1; }
grep -q "ringfast: building the compiled core failed" "$work/sdist-install.log" ||
    { cat "$work/sdist-install.log"; echo "the build did not say it fell back to the pure core" >&2; exit 1; }
check_installed "$work/venv-sdist" python
run_contract_tests "$work/venv-sdist" RINGFAST_TEST_PURE_CORE_FULLY=1

say "RINGFAST_REQUIRE_EXTENSIONS=1 without a compiler: the build must fail"
if nocc_env "$work/venv-sdist" env RINGFAST_REQUIRE_EXTENSIONS=1 python -m pip wheel -v --disable-pip-version-check \
    --no-deps -w "$work/required" "$sdist" >"$work/required.log" 2>&1; then
    cat "$work/required.log"
    echo "RINGFAST_REQUIRE_EXTENSIONS=1 built a wheel without a compiler" >&2
    exit 1
fi
grep -q "error: Command '\['/bin/false'" "$work/required.log" ||
    { cat "$work/required.log"; echo "it failed, but not at compiling" >&2; exit 1; }

# ----------------------------------------------------------------- 4. RINGFAST_NO_EXTENSIONS=1
say "RINGFAST_NO_EXTENSIONS=1: a pure-Python wheel"
RINGFAST_NO_EXTENSIONS=1 "$python" -m pip wheel -q --disable-pip-version-check --no-deps -w "$work/pure" "$sdist" \
    >"$work/pure.log" 2>&1 || { cat "$work/pure.log"; exit 1; }
pure_wheel=$(ls "$work"/pure/ringfast-*.whl)
case "$(basename "$pure_wheel")" in
    *-py3-none-any.whl) ;;
    *) echo "RINGFAST_NO_EXTENSIONS=1 built $(basename "$pure_wheel"), not a py3-none-any wheel" >&2; exit 1 ;;
esac
if has_core "$pure_wheel"; then
    echo "RINGFAST_NO_EXTENSIONS=1 built a wheel with the compiled core in it" >&2
    exit 1
fi
say "ok: $(basename "$pure_wheel")"

# ----------------------------------------------------------------- 5. the release configuration
# What can be checked without the release runners: the workflow is a valid GitHub Actions
# workflow, [tool.cibuildwheel] is valid for cibuildwheel and selects the intended builds.
say "the release workflow and [tool.cibuildwheel]"
"$python" -m venv "$work/venv-tools"
"$work/venv-tools/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all: \
    cibuildwheel check-jsonschema "tomli; python_version < '3.11'"
"$work/venv-tools/bin/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/wheels.yml
"$work/venv-tools/bin/python" - <<'PY'
import json, pathlib, sys
import cibuildwheel, jsonschema
try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
schema = json.loads((pathlib.Path(cibuildwheel.__file__).parent / "resources" / "cibuildwheel.schema.json").read_text())
config = tomllib.loads(pathlib.Path("pyproject.toml").read_text())["tool"]["cibuildwheel"]
jsonschema.validate(config, schema)
missing = [s for s in config["test-sources"] if not pathlib.Path(s).exists()]
named = [w for cmd in config["test-command"] for w in cmd.split() if w.startswith("tests/")]
missing += [t for t in named if not pathlib.Path(t).exists()]
sys.exit(f"[tool.cibuildwheel] names files that do not exist: {missing}" if missing else 0)
PY
check_identifiers() {  # check_identifiers PLATFORM ARCHS EXPECTED...
    local platform=$1 archs=$2
    shift 2
    local got
    got=$("$work/venv-tools/bin/cibuildwheel" --print-build-identifiers --platform "$platform" --archs "$archs" | sort | tr '\n' ' ')
    local want
    want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
    [ "$got" = "$want" ] || { echo "cibuildwheel would build: $got; expected: $want" >&2; exit 1; }
    echo "$platform ($archs): $got"
}
pythons=(cp310 cp311 cp312 cp313 cp314)
linux=() macos=()
for py in "${pythons[@]}"; do
    for arch in x86_64 aarch64; do linux+=("$py-manylinux_$arch" "$py-musllinux_$arch"); done
    for arch in x86_64 arm64; do macos+=("$py-macosx_$arch"); done
done
check_identifiers linux x86_64,aarch64 "${linux[@]}"
check_identifiers macos x86_64,arm64 "${macos[@]}"
say "done"
