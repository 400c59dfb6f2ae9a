# "package: install": installs the build into an empty PREFIX (an install
# keeps an environment file already there, and the tests check the one from
# this build).
#   cmake -DPREFIX=… -DBUILD_DIR=… -DCONFIG=… -P install.cmake
file(REMOVE_RECURSE "${PREFIX}")
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" --config "${CONFIG}"
  COMMAND_ERROR_IS_FATAL ANY)
