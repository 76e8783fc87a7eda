#!/bin/sh
# Runs once, when the primary's data directory is first initialised (the postgres image runs
# /docker-entrypoint-initdb.d/*.sh): lets the streaming replica connect for replication.
# POSTGRES_USER is the image's superuser, which may replicate; a dedicated REPLICATION role is
# the stricter choice in production (docs/operations.md).
set -eu
echo "host replication $POSTGRES_USER all scram-sha-256" >>"$PGDATA/pg_hba.conf"
