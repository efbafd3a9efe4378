#!/bin/sh
# edgecoap fuzz: regenerate the seed corpora of fuzz/corpus/ (see make_corpus.py; Python 3, standard library only).
# SPDX-License-Identifier: Apache-2.0
# Usage: fuzz/make-corpus.sh [harness...]   (default: every harness)
set -eu
exec python3 "$(dirname "$0")/make_corpus.py" "$@"
