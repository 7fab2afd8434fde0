#!/usr/bin/env bash
# `edgellm chat` end to end through a pseudo-terminal (tests/cli_chat.py does the driving).
set -u
: "${EDGELLM_BIN:?EDGELLM_BIN not set}" "${EDGELLM_SHARED:?EDGELLM_SHARED not set}"
exec python3 "$(dirname "$0")/cli_chat.py"
