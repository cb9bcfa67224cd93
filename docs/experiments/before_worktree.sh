# Sourced by the *_before_after.sh experiments: checks out BEFORE_REV (their first argument) into a
# temporary worktree, sets $before to it and $python, and removes the worktree on exit.
before_rev=${1:?a revision to compare against}
before=$(mktemp -d)/before
git worktree add -f --detach "$before" "$before_rev" >/dev/null
trap 'git worktree remove --force "$before"' EXIT
# absolute, since the experiments run it from inside each worktree
python=$(realpath -s "$(command -v "${PYTHON:-python}")")
