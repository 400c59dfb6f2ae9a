# Runs at install time (packaging/CMakeLists.txt's install(CODE)), when the
# prefix is known for sure (`cmake --install --prefix` may change it): writes
# the systemd unit with the installed server's path, and installs the example
# environment file unless one is there already (it holds the operator's
# secrets: an upgrade must not overwrite it).
#   In: RTB_UNIT_TEMPLATE, RTB_UNIT_OUTPUT, RTB_ENV_SOURCE, RTB_BINDIR,
#       RTB_SYSCONFDIR (each directory relative to the prefix, or absolute)

# Like GNUInstallDirs' CMAKE_INSTALL_FULL_<dir>: relative to the prefix; for
# the prefix /usr (or /), "etc" is /etc.
function(rtb_full_dir dir out)
  if(IS_ABSOLUTE "${dir}")
    set(full "${dir}")
  elseif(dir STREQUAL "etc" AND (CMAKE_INSTALL_PREFIX STREQUAL "/usr" OR CMAKE_INSTALL_PREFIX STREQUAL "/"))
    set(full "/etc")
  else()
    set(full "${CMAKE_INSTALL_PREFIX}/${dir}")
  endif()
  cmake_path(NORMAL_PATH full)
  set(${out} "${full}" PARENT_SCOPE)
endfunction()

rtb_full_dir("${RTB_BINDIR}" bindir)
rtb_full_dir("${RTB_SYSCONFDIR}" sysconfdir)
set(envdir "${sysconfdir}/realtime-bridge")
set(RTB_UNIT_EXEC_START "${bindir}/realtime-bridge-server")
set(RTB_UNIT_ENV_FILE "${envdir}/realtime-bridge.env")
configure_file("${RTB_UNIT_TEMPLATE}" "${RTB_UNIT_OUTPUT}" @ONLY)

if(EXISTS "$ENV{DESTDIR}${RTB_UNIT_ENV_FILE}")
  message(STATUS "Keeping: $ENV{DESTDIR}${RTB_UNIT_ENV_FILE} (the example is ${RTB_ENV_SOURCE})")
else()
  # Secrets go in it: readable by root alone (systemd reads it before the
  # service drops to its dynamic user).
  file(INSTALL DESTINATION "${envdir}" TYPE FILE FILES "${RTB_ENV_SOURCE}"
    PERMISSIONS OWNER_READ OWNER_WRITE)
endif()
