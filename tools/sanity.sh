#!/usr/bin/env bash
# ansible-test sanity needs the collection at .../ansible_collections/theedgeworks/devpi: copy the files git knows
# (tracked, and untracked but not ignored) into a scratch tree and run it there. It runs --local in a venv of its own
# (.venv-sanity: ansible-core plus the sanity tests' pinned requirements), because ansible-test's --venv/--docker
# modes download a pip bootstrap script from a host CI cannot reach.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv="$repo/.venv-sanity"
core=$("$repo/.venv/bin/python" -c 'import ansible; print(ansible.__version__)')
if [ ! -x "$venv/bin/ansible-test" ] || [ "$("$venv/bin/python" -c 'import ansible; print(ansible.__version__)')" != "$core" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q "ansible-core==$core"
fi
# ansible-test bootstraps pip in its sanity venvs with a script it downloads from a host CI cannot reach; give it
# tools/pip_bootstrap.py under the cache name it looks for.
pip_version=$(grep -oE "pip='[0-9.]+'" "$venv"/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py | head -1 | grep -oE '[0-9.]+')
mkdir -p ~/.ansible/test/cache
cp "$repo/tools/pip_bootstrap.py" ~/.ansible/test/cache/"get_pip_${pip_version//./_}.py"
python=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/theedgeworks/devpi"
mkdir -p "$dest"
# tools/ (the local control plane's launcher and Go module) is developer tooling, not collection content: galaxy.yml
# leaves it out of the built collection, and so does this copy. Everything else is checked.
(cd "$repo" && git ls-files -z --cached --others --exclude-standard -- . ':!tools' | tar --null -T - -cf - | tar -xf - -C "$dest")
cd "$dest"
git init -q && git add -A >/dev/null
# Collections the modules' docs refer to come from the main venv's `ansible` package.
export ANSIBLE_COLLECTIONS_PATH="$work:$("$repo/.venv/bin/python" -c 'import ansible_collections, os; print(os.path.dirname(list(ansible_collections.__path__)[0]))')"
PATH="$venv/bin:$PATH" "$venv/bin/ansible-test" sanity --local --requirements --python "$python" --color no "$@"
