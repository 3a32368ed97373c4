#!/usr/bin/env bash
# Applies the changes a buildrunner build carries, in order, then runs the tests.
#
# Reads the env contract of the Buildkite backend (the GitHub Actions sample workflow sets the
# same variables from its inputs):
#   SQ_BASE_URIS  JSON array of every base URI (changes queued ahead, assumed good)
#   SQ_HEAD_URIS  JSON array of every head URI (the changes under test)
#   SQ_QUEUE      the queue name
#   SQ_METADATA   JSON object of the caller's metadata (absent when empty)
# and honours the outcome markers in head URIs (buildrunner-outcome=fail|hang|flaky; a block is the
# pipeline's or workflow's own gate after this script).
set -euo pipefail

uris() { python3 -c 'import json, sys; [print(u) for u in json.loads(sys.argv[1])]' "$1"; }

apply() {
  local uri=$1
  case "$uri" in
    https://github.com/*/pull/*)
      # A GitHub pull request: merge its head into the checkout.
      local number=${uri##*/pull/}
      number=${number%%[?#/]*}
      git fetch --quiet origin "pull/${number}/head"
      git merge --quiet --no-edit FETCH_HEAD
      ;;
    *)
      echo "buildrunner: no rule to apply ${uri}; skipping it" >&2
      ;;
  esac
}

echo "--- :buildkite: buildrunner queue ${SQ_QUEUE:-?}"
while IFS= read -r uri; do [ -n "$uri" ] && apply "$uri"; done < <(uris "${SQ_BASE_URIS:-[]}")

outcome=pass
while IFS= read -r uri; do
  [ -n "$uri" ] || continue
  if [ "$outcome" = pass ] && [[ "$uri" =~ buildrunner-outcome=([a-z-]+) ]]; then
    outcome=${BASH_REMATCH[1]}
  fi
  apply "$uri"
done < <(uris "${SQ_HEAD_URIS:-[]}")

# The attempt of this job: Buildkite counts retries of a job, GitHub Actions re-runs, and
# GitLab neither (its sample passes BUILDRUNNER_ATTEMPT from a file the retry finds).
attempt=$(( ${BUILDKITE_RETRY_COUNT:-0} + 1 ))
attempt=${GITHUB_RUN_ATTEMPT:-${BUILDRUNNER_ATTEMPT:-$attempt}}

case "$outcome" in
  fail) echo "buildrunner: failing as the outcome marker asks" >&2; exit 1 ;;
  flaky)
    if [ "$attempt" -le 1 ]; then
      echo "buildrunner: flaky: failing the first attempt as the outcome marker asks" >&2
      exit 1
    fi
    echo "buildrunner: flaky: attempt ${attempt} passes" ;;
  hang) echo "buildrunner: hanging until cancelled as the outcome marker asks"; while true; do sleep 60; done ;;
  pass | block) ;;
  *) echo "buildrunner: outcome ${outcome} is decided by the API, not the pipeline" ;;
esac

echo "+++ :test_tube: tests"
if [ -x ./ci/test.sh ]; then ./ci/test.sh; else echo "no ./ci/test.sh; nothing more to run"; fi
