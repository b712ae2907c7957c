# Stage times for the set-up and test scripts (issue 14: set-up time is a
# newcomer's first measurement of us). Sourced, not run:
#
#   STAGE_PREFIX=test; source scripts/lib/stages.sh
#   ... work ...; stage "what it was"      # prints "<prefix>: stage 'what it was' took Ns"
#   stage_summary                          # every stage and the total
STAGES=()
STAGE_JOB_START=$SECONDS
STAGE_START=$SECONDS

stage() {   # stage NAME: closes the current stage under NAME
    local took=$((SECONDS - STAGE_START))
    STAGES+=("$(printf '%-44s %5ss' "$1" "$took")")
    echo "${STAGE_PREFIX:-stage}: stage '$1' took ${took}s"
    STAGE_START=$SECONDS
}

stage_summary() {
    echo "${STAGE_PREFIX:-stage}: stage times"
    local line
    for line in "${STAGES[@]}"; do echo "  $line"; done
    echo "  $(printf '%-44s %5ss' total $((SECONDS - STAGE_JOB_START)))"
}
