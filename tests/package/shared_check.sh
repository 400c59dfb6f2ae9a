#!/usr/bin/env bash
# The shared build (ctest labels package and slow; a few minutes on two cores):
# builds the libraries alone again with BUILD_SHARED_LIBS=ON, installs them to
# their own prefix, checks each library's SONAME (lib<name>.so.MAJOR.MINOR),
# then builds and runs the CMake consumer (find_package) and the pkg-config
# consumer against that prefix: both must load the installed .so files.
#   shared_check.sh SOURCE_DIR WORK_DIR GENERATOR BUILD_TYPE VERSION LIBDIR CXX CC
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source_dir="$1"; work="$2"; generator="$3"; build_type="$4"; version="$5"; libdir="$6"; cxx="$7"; cc="$8"
soversion="${version%.*}"
fail() { echo "shared build: $*" >&2; exit 1; }

build="$work/build"
prefix="$work/prefix"
mkdir -p "$work"
rm -rf "$prefix" "$work/cmake-consumer"
cmake -S "$source_dir" -B "$build" -G "$generator" -DCMAKE_BUILD_TYPE="$build_type" \
  -DBUILD_SHARED_LIBS=ON -DRTB_BUILD_TESTS=OFF -DRTB_BUILD_EXAMPLES=OFF -DRTB_WITH_SERVICE=ON \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" > "$work/configure.log" ||
  { cat "$work/configure.log"; fail "configure failed"; }
cmake --build "$build" --parallel "${RTB_SHARED_CHECK_JOBS:-2}"
cmake --install "$build" --prefix "$prefix" > "$work/install.log"

for lib in realtime_bridge realtime_bridge_c realtime_bridge_lws realtime_bridge_service; do
  so="$prefix/$libdir/lib$lib.so.$version"
  [ -f "$so" ] || fail "no $so"
  soname="$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
  [ "$soname" = "lib$lib.so.$soversion" ] || fail "$so has SONAME '$soname', not lib$lib.so.$soversion"
  [ "$(readlink "$prefix/$libdir/lib$lib.so.$soversion")" = "lib$lib.so.$version" ] ||
    fail "lib$lib.so.$soversion is not a link to lib$lib.so.$version"
  [ "$(readlink "$prefix/$libdir/lib$lib.so")" = "lib$lib.so.$soversion" ] ||
    fail "lib$lib.so is not a link to lib$lib.so.$soversion"
  echo "lib$lib.so.$version: SONAME $soname"
  if [ "$lib" != realtime_bridge ]; then
    # They link the shared core, found beside them (RUNPATH $ORIGIN).
    grep -q -F "[librealtime_bridge.so.$soversion]" <<< "$(readelf -d "$so")" || fail "$so does not need the shared core"
    loaded="$(cd / && ldd "$so")"
    grep -q -F "librealtime_bridge.so.$soversion => $prefix/$libdir/" <<< "$loaded" ||
      fail "$so does not find the core beside it: $loaded"
  fi
done

# The CMake consumer, as tests/CMakeLists.txt runs it on the static install.
ctest --build-and-test "$here" "$work/cmake-consumer" --build-generator "$generator" \
  --build-options -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE="$build_type" \
    -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" \
  --test-command ctest --output-on-failure
grep -q -F "[librealtime_bridge.so.$soversion]" <<< "$(readelf -d "$work/cmake-consumer/consumer")" ||
  fail "the CMake consumer does not use librealtime_bridge.so.$soversion"
loaded="$(ldd "$work/cmake-consumer/consumer")"
grep -q -F "librealtime_bridge.so.$soversion => $prefix/$libdir/" <<< "$loaded" ||
  fail "the CMake consumer does not load the installed library: $loaded"

"$here/pkgconfig_consumer.sh" "$prefix" "$libdir" "$work/pkgconfig-consumer" "$version" "$cxx" "$cc" shared
echo "shared libraries: SONAMEs and both consumers OK"
