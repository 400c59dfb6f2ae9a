#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the tests and writes its URL to
# STATE_DIR/url. The cluster lives in a temporary directory, listens on
# 127.0.0.1 only, on a free port it picks, and trusts local connections.
#   tests/pg/start_cluster.sh STATE_DIR     (tests/pg/stop_cluster.sh STATE_DIR stops it)
#
# RTB_TEST_POSTGRES_URL set: that server is used instead (nothing is started).
# No PostgreSQL server installed (Debian's postgresql package): the PostgreSQL
# tests skip, unless RTB_REQUIRE_POSTGRES=1 (as in CI), which makes it an error.
set -euo pipefail
state="${1:?usage: start_cluster.sh STATE_DIR}"
mkdir -p "$state"
rm -f "$state/url" "$state/datadir"

if [ -n "${RTB_TEST_POSTGRES_URL:-}" ]; then
  echo "$RTB_TEST_POSTGRES_URL" > "$state/url"
  echo "PostgreSQL: using RTB_TEST_POSTGRES_URL"
  exit 0
fi

unavailable() {
  if [ "${RTB_REQUIRE_POSTGRES:-0}" = "1" ]; then
    echo "PostgreSQL is required (RTB_REQUIRE_POSTGRES=1) but $1" >&2
    exit 1
  fi
  echo "PostgreSQL SKIPPED: $1 (install Debian's postgresql package to run the PostgreSQL tests)"
  exit 0
}

bindir=""
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then bindir="$d"; break; fi
done
[ -n "$bindir" ] || unavailable "no initdb/pg_ctl under /usr/lib/postgresql/*/bin"

# initdb refuses to run as root: run the server as the postgres user the
# package creates (or as ourselves when we are not root).
as_owner=()
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || unavailable "running as root and there is no postgres user"
  as_owner=(runuser -u postgres --)
fi

# Under /tmp, not the build tree: the postgres user must be able to reach it.
data="$(mktemp -d /tmp/rtb-pg.XXXXXX)"
echo "$data" > "$state/datadir"
[ ${#as_owner[@]} -eq 0 ] || chown postgres: "$data"
chmod 700 "$data"
if ! "${as_owner[@]}" "$bindir/initdb" -D "$data/cluster" -A trust -U rtb -E UTF8 --locale=C --no-sync \
    >"$data/initdb.log" 2>&1; then
  cat "$data/initdb.log" >&2
  unavailable "initdb failed"
fi

for attempt in $(seq 1 20); do
  port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
  if "${as_owner[@]}" "$bindir/pg_ctl" -D "$data/cluster" -l "$data/server.log" -w -t 60 \
      -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null 2>&1; then
    echo "postgresql://rtb@127.0.0.1:$port/postgres" > "$state/url"
    echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($data)"
    exit 0
  fi
  # Only a port someone else took is worth another try.
  grep -q "could not bind\|Address already in use" "$data/server.log" 2>/dev/null || break
  : > "$data/server.log"
done
cat "$data/server.log" >&2 || true
unavailable "the server did not start"
