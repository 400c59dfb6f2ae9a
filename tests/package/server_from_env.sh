#!/usr/bin/env bash
# The installed server starts from the installed environment file, as the
# systemd unit would start it (systemd itself is not running here):
#   server_from_env.sh UNIT_FILE WORK_DIR AGENTS_FILE
# Takes ExecStart= and EnvironmentFile= from the installed unit. As installed,
# the file lacks the secrets: the server refuses to start (exit 2, a settings
# error the unit does not restart on). A copy filled in as an operator would
# (an OpenAI key that is not one, ALLOW_UNSIGNED=true for want of a Twilio
# token, a free loopback port, AGENTS_FILE) starts in a scratch "state
# directory" as its working directory: GET /healthz answers 200, SIGHUP
# reloads the agents, every log line is JSON (LOG_FORMAT=json), the default
# call store is data/calls.db there, and SIGTERM stops it with exit 0.
set -euo pipefail
unit="$1"; work="$2"; agents="$3"
fail() {
  echo "server from the environment file: $*" >&2
  [ -f "$work/server.log" ] && { echo "--- server log:" >&2; cat "$work/server.log" >&2; }
  exit 1
}

server="$(sed -n 's/^ExecStart=//p' "$unit")"
envfile="$(sed -n 's/^EnvironmentFile=-\{0,1\}//p' "$unit")"
[ -x "$server" ] || fail "ExecStart=$server is not an executable"
[ -f "$envfile" ] || fail "EnvironmentFile=$envfile does not exist"

rm -rf "$work"
mkdir -p "$work/state"

# The file as systemd reads it: NAME=value lines and '#' comment lines. Values
# without quotes, spaces or backslashes read the same in systemd and a shell.
read_env() {
  vars=()
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in '' | '#'*) continue ;; esac
    [[ "$line" =~ ^[A-Z][A-Z0-9_]*=[^[:space:]\"\'\\]*$ ]] || fail "$1: not a plain NAME=value line: $line"
    vars+=("$line")
  done < "$1"
}

# 1. As installed: no secrets, no start.
read_env "$envfile"
set +e
(cd "$work/state" && env -i PATH=/usr/bin:/bin "${vars[@]}" "$server" > "$work/unfilled.log" 2>&1)
rc=$?
set -e
[ $rc -eq 2 ] || fail "as installed, the server exited $rc, not 2: $(cat "$work/unfilled.log")"
grep -q OPENAI_API_KEY "$work/unfilled.log" || fail "as installed, the server did not ask for OPENAI_API_KEY: $(cat "$work/unfilled.log")"

# 2. Filled in.
filled="$work/realtime-bridge.env"
cp "$envfile" "$filled"
set_var() {  # NAME VALUE: replace the line (commented out or not), or append it
  if grep -q "^#\{0,1\}$1=" "$filled"; then
    sed -i "0,/^#\{0,1\}$1=.*/s||$1=$2|" "$filled"
  else
    echo "$1=$2" >> "$filled"
  fi
}
set_var OPENAI_API_KEY test-key-not-a-real-one
set_var ALLOW_UNSIGNED true
set_var PORT 0  # any free port: the log says which
set_var BIND_ADDRESS 127.0.0.1
set_var AGENTS_FILE "$agents"
read_env "$filled"

# An open-files limit of 4096 (as the unit's LimitNOFILE, soft and hard):
# MAX_CALLS=0 admits about half of it.
(cd "$work/state" && ulimit -n 4096 && exec env -i PATH=/usr/bin:/bin "${vars[@]}" "$server" > "$work/server.log" 2>&1) &
pid=$!
trap 'kill -KILL $pid 2>/dev/null || true' EXIT

wait_log() {  # REGEX SECONDS
  for _ in $(seq $(($2 * 10))); do
    grep -q -E "$1" "$work/server.log" && return 0
    kill -0 $pid 2>/dev/null || fail "the server exited while waiting for /$1/"
    sleep 0.1
  done
  fail "no /$1/ in the log within $2 s"
}
wait_log 'listening on 127\.0\.0\.1:[0-9]+' 20
port="$(grep -m1 -o -E 'listening on 127\.0\.0\.1:[0-9]+' "$work/server.log" | sed 's/.*://')"
wait_log 'admitting at most [0-9]+ calls at once' 10
admitted="$(grep -m1 -o -E 'admitting at most [0-9]+ calls at once \(from the open-files limit\)' "$work/server.log" |
  sed 's/admitting at most \([0-9]*\).*/\1/')"
[ -n "$admitted" ] && [ "$admitted" -gt 1900 ] && [ "$admitted" -le 2016 ] ||
  fail "with 4096 open files, MAX_CALLS=0 admits '$admitted' calls, not about 2000"

exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
status=""
IFS= read -r -t 10 status <&3 || true
exec 3<&-
[[ "$status" == "HTTP/1.1 200"* ]] || fail "GET /healthz on port $port answered '$status'"
echo "GET /healthz on 127.0.0.1:$port: $status"

kill -HUP $pid
wait_log 'SIGHUP: [0-9]+ agent profile\(s\) reloaded' 10

kill -TERM $pid
set +e
wait $pid
rc=$?
set -e
trap - EXIT
[ $rc -eq 0 ] || fail "after SIGTERM the server exited $rc, not 0"
grep -q '"stopped"' "$work/server.log" || fail "no 'stopped' in the log"
[ -f "$work/state/data/calls.db" ] || fail "no call store at data/calls.db under the working directory"
# LOG_FORMAT=json: one JSON object per line.
if grep -v -q '^{.*}$' "$work/server.log"; then
  fail "a log line is not a JSON object: $(grep -v '^{.*}$' "$work/server.log" | head -1)"
fi
echo "the installed server started from $envfile (filled in), answered /healthz, reloaded on SIGHUP and stopped on SIGTERM"
