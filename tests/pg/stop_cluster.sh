#!/usr/bin/env bash
# Stops the cluster tests/pg/start_cluster.sh started in STATE_DIR and deletes it.
set -euo pipefail
state="${1:?usage: stop_cluster.sh STATE_DIR}"
[ -f "$state/datadir" ] || exit 0
data="$(cat "$state/datadir")"
bindir=""
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  if [ -x "$d/pg_ctl" ]; then bindir="$d"; break; fi
done
if [ -n "$bindir" ] && [ -f "$data/cluster/postmaster.pid" ]; then
  as_owner=()
  [ "$(id -u)" -ne 0 ] || as_owner=(runuser -u postgres --)
  "${as_owner[@]}" "$bindir/pg_ctl" -D "$data/cluster" -m immediate -w stop >/dev/null 2>&1 || true
fi
case "$data" in /tmp/rtb-pg.*) rm -rf "$data" ;; esac
rm -f "$state/url" "$state/datadir"
