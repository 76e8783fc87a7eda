"""Every C source and header follows the committed .clang-format (STYLE.md: CI checks it)."""
import os
import shutil
import subprocess
import sys

SRC = os.path.abspath(os.environ.get("SPOKE_SOURCE_DIR",
                                     os.path.join(os.path.dirname(__file__), "..", "..")))


def c_files():
    for top in ("include", "src", "tests", "bench"):
        for root, _, names in os.walk(os.path.join(SRC, top)):
            for n in sorted(names):
                if n.endswith((".c", ".h")):
                    yield os.path.join(root, n)


def main():
    tool = shutil.which("clang-format")
    if not tool:
        print("FAIL clang-format is not installed (tests/run.sh installs it)")
        print("0 passed, 1 failed")
        sys.exit(1)
    files = list(c_files())
    bad = [f for f in files
           if subprocess.run([tool, "--dry-run", "--Werror", f], cwd=SRC,
                             capture_output=True).returncode != 0]
    for f in bad:
        print("FAIL not formatted:", os.path.relpath(f, SRC))
    ok = len(files) > 50 and not bad
    if len(files) <= 50:
        print(f"FAIL only {len(files)} C files found")
    print(f"{1 if ok else 0} passed, {0 if ok else 1} failed")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
