#!/usr/bin/env bash
# The pkg-config consumer: builds consumer.cpp and c_consumer.c (this
# directory) against an installed realtime_bridge with the flags pkg-config
# gives, and runs them.
#   pkgconfig_consumer.sh PREFIX LIBDIR WORK_DIR VERSION CXX CC static|shared
# static: the libraries are archives (the default build): pkg-config --static
# brings their private dependencies, and the programs must not need any
# librealtime_bridge*.so but the C ABI's. shared (BUILD_SHARED_LIBS=ON): the
# programs must need the installed librealtime_bridge.so.MAJOR.MINOR.
set -euo pipefail
src="$(cd "$(dirname "$0")" && pwd)"
prefix="$1"; libdir="$2"; work="$3"; version="$4"; cxx="$5"; cc="$6"; mode="$7"
soversion="${version%.*}"  # 0.1.0 -> 0.1
fail() { echo "pkg-config consumer: $*" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work"
# Only the installed prefix's .pc files, besides the system's (simdjson, fmt, …).
export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
static=()
[ "$mode" = static ] && static=(--static)

for pc in "$prefix/$libdir"/pkgconfig/realtime_bridge*.pc; do
  name="$(basename "$pc" .pc)"
  # Every dependency, private ones included, resolves.
  pkg-config --print-errors --exists "$name" || fail "$name does not resolve"
  pkg-config --print-errors --static --libs "$name" >/dev/null || fail "$name --static does not resolve"
  got="$(pkg-config --modversion "$name")"
  [ "$got" = "$version" ] || fail "$name has version $got, not $version"
  echo "$name $got: $(pkg-config "${static[@]}" --cflags --libs "$name")"
done

# Relocatable: the include directory is the prefix's, however it is written.
incdir="$(pkg-config --variable=includedir realtime_bridge)"
[ "$(cd "$incdir" && pwd -P)" = "$(cd "$prefix/include" && pwd -P)" ] || fail "includedir $incdir is not $prefix/include"
# …and a moved prefix's .pc files name the new place.
moved="$work/moved"
mkdir -p "$moved/$libdir" "$moved/include"
cp -R "$prefix/$libdir/pkgconfig" "$moved/$libdir/"
moved="$(cd "$moved" && pwd -P)"
got="$(PKG_CONFIG_PATH="$moved/$libdir/pkgconfig" pkg-config --variable=libdir realtime_bridge)"
[ "$(cd "$got" && pwd -P)" = "$moved/$libdir" ] || fail "in a moved prefix, libdir is $got"
got="$(PKG_CONFIG_PATH="$moved/$libdir/pkgconfig" pkg-config --variable=includedir realtime_bridge)"
[ "$(cd "$got" && pwd -P)" = "$moved/include" ] || fail "in a moved prefix, includedir is $got"

# C++: the core. pkg-config cannot carry C++20: the consumer asks for it.
# shellcheck disable=SC2046
"$cxx" -std=c++20 -o "$work/consumer" "$src/consumer.cpp" $(pkg-config --cflags realtime_bridge) \
  $(pkg-config "${static[@]}" --libs realtime_bridge) -Wl,-rpath,"$prefix/$libdir"
# C: the C ABI (a shared library unless built with RTB_C_SHARED=OFF).
# shellcheck disable=SC2046
"$cc" -std=c99 -o "$work/c_consumer" "$src/c_consumer.c" $(pkg-config --cflags realtime_bridge_c) \
  $(pkg-config "${static[@]}" --libs realtime_bridge_c) -Wl,-rpath,"$prefix/$libdir"

needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
core_needed="$(needed "$work/consumer" | grep '^librealtime_bridge' || true)"
if [ "$mode" = shared ]; then
  [ "$core_needed" = "librealtime_bridge.so.$soversion" ] ||
    fail "consumer needs '${core_needed}', not librealtime_bridge.so.$soversion"
else
  [ -z "$core_needed" ] || fail "the static consumer needs $core_needed"
fi

out="$("$work/consumer")" || fail "consumer failed: $out"
echo "$out"
[ "$out" = "realtime_bridge $version package works" ] || fail "consumer printed '$out'"
out="$("$work/c_consumer")" || fail "c_consumer failed: $out"
echo "$out"
# The C program runs on the installed library, not another copy.
# (Each output is read whole: grep -q in a pipe with pipefail would fail on
# the writer's SIGPIPE.)
loaded="$(ldd "$work/c_consumer")"
if needed "$work/c_consumer" | grep '^librealtime_bridge_c' > /dev/null; then
  grep -q -F "librealtime_bridge_c.so.$soversion => $prefix/$libdir/" <<< "$loaded" ||
    fail "c_consumer does not load $prefix/$libdir/librealtime_bridge_c.so.$soversion: $loaded"
fi
echo "pkg-config consumers ($mode) build and run"
