#!/usr/bin/env bash
# Chat paths of the zoo families (tests/cli_families_chat.py does the driving).
set -u
: "${EDGELLM_BIN:?EDGELLM_BIN not set}" "${EDGELLM_SHARED:?EDGELLM_SHARED not set}"
exec python3 "$(dirname "$0")/cli_families_chat.py"
