#!/usr/bin/env bash
# The installed systemd unit and environment file (packaging/):
#   unit_check.sh UNIT_FILE PREFIX BUILD_DIR WORK_DIR VERSION
# - ExecStart= is the installed server, EnvironmentFile= the installed
#   environment file (mode 0600), and the unit has its hardening and limits;
# - TimeoutStopSec= outlasts the file's SHUTDOWN_GRACE_SECONDS plus the 5 s
#   the server gives the call store to flush;
# - every setting the file names, commented out or not, is one the server has
#   (its --help);
# - systemd-analyze verify finds nothing to say (when systemd is installed);
# - installing again keeps an edited environment file, and a packager's
#   install (prefix /usr, DESTDIR) puts the file in /etc and the unit in
#   /usr/lib/systemd/system, naming /usr/bin/realtime-bridge-server.
set -euo pipefail
unit="$1"; prefix="$2"; build="$3"; work="$4"; version="$5"
fail() { echo "systemd unit: $*" >&2; exit 1; }
rm -rf "$work"
mkdir -p "$work"

[ -f "$unit" ] || fail "no unit at $unit"
value() { sed -n "s/^$1=//p" "$2"; }
server="$(value ExecStart "$unit")"
envfile="$(value EnvironmentFile "$unit")"
[ "$server" = "$prefix/bin/realtime-bridge-server" ] || fail "ExecStart=$server, not $prefix/bin/realtime-bridge-server"
[ -x "$server" ] || fail "$server is not executable"
[ "$("$server" --version)" = "realtime-bridge-server $version" ] || fail "$server --version: $("$server" --version)"
[ "$envfile" = "$prefix/etc/realtime-bridge/realtime-bridge.env" ] || fail "EnvironmentFile=$envfile"
[ -f "$envfile" ] || fail "$envfile was not installed"
[ "$(stat -c %a "$envfile")" = 600 ] || fail "$envfile has mode $(stat -c %a "$envfile"), not 600"

for directive in Type=simple DynamicUser=yes StateDirectory=realtime-bridge WorkingDirectory=%S/realtime-bridge \
  LimitNOFILE=65536 Restart=on-failure RestartPreventExitStatus=2 KillSignal=SIGTERM \
  'ExecReload=/bin/kill -HUP $MAINPID' NoNewPrivileges=yes CapabilityBoundingSet= AmbientCapabilities= \
  ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes ProtectKernelTunables=yes \
  ProtectKernelModules=yes ProtectKernelLogs=yes ProtectControlGroups=yes \
  'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' RestrictNamespaces=yes LockPersonality=yes \
  MemoryDenyWriteExecute=yes SystemCallArchitectures=native; do
  grep -q -x -F "$directive" "$unit" || fail "no '$directive' line"
done
grep -q '^User=' "$unit" && fail "a User= line: the unit runs as a dynamic user"

grace="$(value SHUTDOWN_GRACE_SECONDS "$envfile")"
grace="${grace:-30}"
stop="$(value TimeoutStopSec "$unit")"
[ "$stop" -gt $((grace + 5)) ] || fail "TimeoutStopSec=$stop does not outlast SHUTDOWN_GRACE_SECONDS=$grace + 5 s"

help="$("$server" --help)"
for name in $(sed -n 's/^#\{0,1\}\([A-Z][A-Z0-9_]*\)=.*/\1/p' "$envfile" | sort -u); do
  grep -q -F "($name)" <<< "$help" || fail "$envfile names $name, which is not a setting of the server"
done

if command -v systemd-analyze > /dev/null 2>&1; then
  # verify warns (unknown keys, bad values) on stderr but exits 0: any output fails.
  out="$(systemd-analyze verify "$unit" 2>&1)" || fail "systemd-analyze verify: $out"
  [ -z "$out" ] || fail "systemd-analyze verify: $out"
  echo "systemd-analyze verify: OK"
  systemd-analyze security --offline=true "$unit" 2>&1 | tail -1
elif [ "${RTB_REQUIRE_SYSTEMD_ANALYZE:-0}" = 1 ]; then
  fail "systemd-analyze is required (RTB_REQUIRE_SYSTEMD_ANALYZE=1); ./scripts/setup.sh installs it"
else
  echo "systemd-analyze is not installed (./scripts/setup.sh installs it): the unit is not verified"
fi

# Installing again keeps the operator's environment file.
cmake --install "$build" --component server --prefix "$work/prefix" > /dev/null
echo "OPENAI_API_KEY=edited-by-the-operator" >> "$work/prefix/etc/realtime-bridge/realtime-bridge.env"
cmake --install "$build" --component server --prefix "$work/prefix" > "$work/reinstall.log"
grep -q edited-by-the-operator "$work/prefix/etc/realtime-bridge/realtime-bridge.env" ||
  fail "a second install overwrote the environment file"
grep -q "Keeping: .*realtime-bridge.env" "$work/reinstall.log" || fail "the second install did not say it kept the file"

# A packager's install: prefix /usr, staged in DESTDIR.
DESTDIR="$work/stage" cmake --install "$build" --component server --prefix /usr > /dev/null
staged="$work/stage/usr/lib/systemd/system/realtime-bridge.service"
[ -f "$staged" ] || fail "no $staged"
[ "$(value ExecStart "$staged")" = /usr/bin/realtime-bridge-server ] || fail "staged ExecStart=$(value ExecStart "$staged")"
[ "$(value EnvironmentFile "$staged")" = /etc/realtime-bridge/realtime-bridge.env ] ||
  fail "staged EnvironmentFile=$(value EnvironmentFile "$staged")"
[ -f "$work/stage/etc/realtime-bridge/realtime-bridge.env" ] || fail "the staged environment file is not in DESTDIR/etc"
[ -x "$work/stage/usr/bin/realtime-bridge-server" ] || fail "the staged server is not in DESTDIR/usr/bin"
echo "systemd unit and environment file: OK"
