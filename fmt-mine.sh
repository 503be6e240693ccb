#!/bin/sh
# Formats only the files the sync engineer owns (cargo fmt would reformat everyone's files).
exec rustfmt --edition 2021 src/sync/*.rs src/mapping/*.rs src/store/sync_data.rs src/store/mapping_data.rs tests/sync_*.rs tests/mapping_*.rs tests/sync_common/mod.rs
