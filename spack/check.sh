#!/bin/bash
# Checks the Spack package repository without needing Spack:
#   1. every .py under spack/ byte-compiles;
#   2. the repository has the Spack >= 1.0 layout (repo.yaml namespace = folder name, api v2.x);
#   3. each package.py runs against stand-in Spack modules: its directives are well formed and
#      cmake_args maps the variants to the -D options the top-level CMakeLists.txt reads.
# Where `spack` is on PATH it also asks Spack itself to load the recipe (`spack info drover`).
# Exits non-zero on the first failure. CI calls it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo_root="$here/repos"
repo="$repo_root/spack_repo/drover"

echo "spack/check.sh: byte-compiling"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
while IFS= read -r -d '' f; do
  # -X pycache_prefix keeps __pycache__ folders out of the source tree.
  python3 -X pycache_prefix="$tmp/pycache" -m py_compile "$f"
  echo "  ok ${f#"$here"/}"
  n=$((n + 1))
done < <(find "$here" -name '*.py' -print0 | sort -z)
if [[ $n -eq 0 ]]; then
  echo "spack/check.sh: no .py files found under $here" >&2
  exit 1
fi

echo "spack/check.sh: layout and recipe against stand-in Spack modules"
python3 - "$repo" <<'PY'
import importlib.util, pathlib, re, sys, types

repo = pathlib.Path(sys.argv[1])
fail = []
text = (repo / "repo.yaml").read_text()
ns = re.search(r"^\s+namespace:\s*(\S+)\s*$", text, re.M)
api = re.search(r"^\s+api:\s*v?(\d+)\.(\d+)\s*$", text, re.M)
if not text.startswith("repo:") or not ns or ns.group(1) != repo.name:
    fail.append(f"repo.yaml: namespace must be '{repo.name}' (the folder's name)")
if not api or int(api.group(1)) != 2:
    fail.append("repo.yaml: 'api: v2.x' is what Spack >= 1.0 reads")

# Stand-ins for what recipes import. Directives record their calls; the package base class
# offers what cmake_args uses (spec, run_tests, define, define_from_variant).
calls = []
def directive(name):
    def record(*args, **kwargs):
        calls.append((name, args, kwargs))
    return record
package_mod = types.ModuleType("spack.package")
names = ["version", "variant", "depends_on", "conflicts", "requires", "provides",
         "patch", "resource", "maintainers", "license", "extends", "build_system"]
for name in names:
    setattr(package_mod, name, directive(name))
package_mod.when = lambda *a, **k: __import__("contextlib").nullcontext()
package_mod.__all__ = names + ["when"]

class FakeSpec:
    def __init__(self, variants):
        self.variants = variants
    def satisfies(self, constraint):
        m = re.fullmatch(r"([+~])(\w+)", constraint)
        if not m:
            raise NotImplementedError(constraint)
        return self.variants[m.group(2)] == (m.group(1) == "+")
    def __contains__(self, constraint):
        return self.satisfies(constraint)

def define(var, value):
    if isinstance(value, bool):
        value = "ON" if value else "OFF"
    return f"-D{var}={value}"

class CMakePackage:
    def __init__(self, variants, run_tests):
        self.spec, self.run_tests = FakeSpec(variants), run_tests
    def define(self, var, value):
        return define(var, value)
    def define_from_variant(self, var, variant=None):
        return define(var, self.spec.variants[variant or var.lower()])

cmake_mod = types.ModuleType("spack_repo.builtin.build_systems.cmake")
cmake_mod.CMakePackage = CMakePackage
cmake_mod.generator = directive("generator")
cmake_mod.define = define
for mod_name in ["spack", "spack_repo", "spack_repo.builtin", "spack_repo.builtin.build_systems"]:
    sys.modules[mod_name] = types.ModuleType(mod_name)
sys.modules["spack.package"] = package_mod
sys.modules["spack_repo.builtin.build_systems.cmake"] = cmake_mod

pkgs = sorted((repo / "packages").glob("*/package.py"))
if not pkgs:
    fail.append("no packages/<name>/package.py")
for path in pkgs:
    pkg_name = path.parent.name
    if not re.fullmatch(r"[a-z0-9_]+", pkg_name):
        fail.append(f"{path}: package folders are lower_case_with_underscores")
    class_name = "".join(p.capitalize() for p in pkg_name.split("_"))
    calls.clear()
    spec = importlib.util.spec_from_file_location(f"spack_repo.{repo.name}.packages.{pkg_name}.package", path)
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    except Exception as e:
        fail.append(f"{path}: does not load: {type(e).__name__}: {e}")
        continue
    cls = getattr(mod, class_name, None)
    if cls is None:
        fail.append(f"{path}: no class {class_name}")
        continue
    if not cls.__doc__:
        fail.append(f"{path}: {class_name} needs a docstring (spack info shows it)")
    for attr in ("homepage", "git"):
        if not getattr(cls, attr, None):
            fail.append(f"{path}: {class_name}.{attr} is not set")
    if not any(c[0] == "version" for c in calls):
        fail.append(f"{path}: no version()")
    print(f"  ok {pkg_name}: {len(calls)} directives")

    if pkg_name == "drover":
        variants = {c[1][0]: c[2].get("default") for c in calls if c[0] == "variant"}
        deps = [c[1][0] for c in calls if c[0] == "depends_on"]
        for v in ("mpi", "checkpoint"):
            if variants.get(v) is not True:
                fail.append(f"drover: variant {v} must exist and default to True")
        for d in ("hwloc", "sqlite", "nlohmann-json", "boost", "munge", "mpi", "hdf5",
                  "googletest", "benchmark"):
            if not any(x.split("@")[0].split("+")[0].split()[0] == d for x in deps):
                fail.append(f"drover: missing depends_on({d!r})")
        for mpi in (True, False):
            for ckpt in (True, False):
                for tests in (True, False):
                    args = cls({"mpi": mpi, "checkpoint": ckpt}, tests).cmake_args()
                    on = lambda b: "ON" if b else "OFF"
                    want = [f"-DDROVER_ENABLE_MPI={on(mpi)}",
                            f"-DDROVER_ENABLE_CHECKPOINT={on(ckpt)}",
                            f"-DDROVER_BUILD_TESTS={on(tests)}",
                            "-DDROVER_BUILD_BENCH=OFF"]
                    missing = [w for w in want if w not in args]
                    if missing:
                        fail.append(f"drover: cmake_args with mpi={mpi} checkpoint={ckpt} "
                                    f"run_tests={tests} lacks {missing}: {args}")
        print("  ok drover: cmake_args for every variant combination")

for f in fail:
    print(f"spack/check.sh: {f}", file=sys.stderr)
sys.exit(1 if fail else 0)
PY

if command -v spack >/dev/null 2>&1; then
  echo "spack/check.sh: asking Spack to load the recipe"
  mkdir -p "$tmp/scope"
  printf 'repos:\n  drover: %s\n' "$repo" >"$tmp/scope/repos.yaml"
  spack -C "$tmp/scope" info drover >/dev/null
  echo "  ok spack info drover"
else
  echo "spack/check.sh: spack not on PATH; skipped loading the recipe with Spack itself"
fi
echo "spack/check.sh: passed"
