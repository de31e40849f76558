#!/usr/bin/env bash
# Checks that every C and C++ source in the repository is formatted as its .clang-format says
# (lldb_plugin/ keeps LLVM's style, the rest the project's). Exit status 1, naming each file that is
# not, with the command that fixes them. `tools/check_format.sh --fix` formats them in place.
#
# The version is pinned: clang-format's output changes between releases, and the check must not fail
# because a newer one is installed. Debian 12's clang-format-14 (scripts/install-deps installs it).
set -euo pipefail
cd "$(dirname "$0")/.."

CLANG_FORMAT=${CLANG_FORMAT:-clang-format-14}
if ! command -v "$CLANG_FORMAT" >/dev/null; then
  echo "check_format: $CLANG_FORMAT is not installed (scripts/install-deps installs it)" >&2
  exit 1
fi

# The tracked files in a checkout; every file under the source folders otherwise (a tarball).
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files -- '*.c' '*.h' '*.cpp' '*.hpp')
else
  mapfile -t files < <(find core gdb_plugin lldb_plugin tests bench examples tools \
                            -type f \( -name '*.c' -o -name '*.h' -o -name '*.cpp' -o -name '*.hpp' \) 2>/dev/null | sort)
fi
if [[ ${#files[@]} -eq 0 ]]; then
  echo "check_format: no sources found" >&2
  exit 1
fi

if [[ "${1:-}" == "--fix" ]]; then
  "$CLANG_FORMAT" -i "${files[@]}"
  exit 0
fi

# One run over every file; each misformatted line is reported as "FILE:LINE:COL: error: ...".
mapfile -t unformatted < <("$CLANG_FORMAT" --dry-run "${files[@]}" 2>&1 |
                           sed -n 's/^\(.*\):[0-9]*:[0-9]*: \(error\|warning\): code should be clang-formatted.*/\1/p' | sort -u)
if [[ ${#unformatted[@]} -gt 0 ]]; then
  echo "check_format: ${#unformatted[@]} of ${#files[@]} files are not formatted:" >&2
  printf '  %s\n' "${unformatted[@]}" >&2
  echo "fix them with: tools/check_format.sh --fix" >&2
  exit 1
fi
echo "check_format: all ${#files[@]} files formatted"
