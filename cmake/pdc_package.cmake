# Debian packages with CPack (docs/install.md, "Debian packages"):
#   cmake --build build && (cd build && cpack)
# makes four packages from the install components:
#   pdcd        (daemon)   pdcd, pdcctl, pdc-kernel-host, the example kernels,
#                          the units, sysusers.d and tmpfiles.d entries, the
#                          config (a conffile), docs and man pages
#   libpdc0     (runtime)  libpdc.so.0, the C ABI
#   libpdc-dev  (dev)      headers, libpdc.so, the static C++ client, the
#                          CMake package and pkg-config files
#   python3-pdc (python)   the Python client, package pdc (ctypes over libpdc0)
# Always for prefix /usr, whatever the build's CMAKE_INSTALL_PREFIX: the
# units and the config are written at install time for the prefix
# installed to (cmake/pdc_install_configured.cmake).
set(PDC_DEB_RELEASE 1)
set(PDC_DEB_MAINTAINER "pdc maintainers <maintainers@users.noreply.r-seed-daa7025a.example>")

# What every Debian package carries in /usr/share/doc/<package>: the
# copyright file and the compressed changelog. Only the packages get them
# (EXCLUDE_FROM_ALL: cpack installs each component by name).
add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/debian/changelog.Debian.gz
                   COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/debian
                   COMMAND gzip -9nc ${PROJECT_SOURCE_DIR}/deploy/debian/changelog > ${PROJECT_BINARY_DIR}/debian/changelog.Debian.gz
                   DEPENDS ${PROJECT_SOURCE_DIR}/deploy/debian/changelog VERBATIM)
add_custom_target(pdc_deb_changelog ALL DEPENDS ${PROJECT_BINARY_DIR}/debian/changelog.Debian.gz)
foreach(pair daemon:pdcd runtime:libpdc0 dev:libpdc-dev python:python3-pdc)
  string(REPLACE ":" ";" pair "${pair}")
  list(GET pair 0 component)
  list(GET pair 1 package)
  install(FILES deploy/debian/copyright ${PROJECT_BINARY_DIR}/debian/changelog.Debian.gz
          DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${package} COMPONENT ${component} EXCLUDE_FROM_ALL)
endforeach()

# The config is a conffile: an upgrade keeps the administrator's edits.
file(WRITE ${PROJECT_BINARY_DIR}/debian/conffiles "/etc/pdcd/pdcd.toml\n")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME pdc)
set(CPACK_PACKAGE_VENDOR "The pdc authors")
set(CPACK_PACKAGE_CONTACT "${PDC_DEB_MAINTAINER}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/packages)
set(CPACK_COMPONENTS_ALL daemon runtime dev python)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${PDC_DEB_RELEASE})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${PDC_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "")

set(CPACK_DEBIAN_DAEMON_PACKAGE_NAME pdcd)
set(CPACK_DEBIAN_DAEMON_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_DAEMON_PACKAGE_RECOMMENDS systemd)
set(CPACK_DEBIAN_DAEMON_DESCRIPTION "pdc ring-kernel actor runtime: the daemon
pdcd hosts persistent actors (ring kernels) loaded from plugins, in several
performance tiers, and serves client processes over a Unix socket and
shared-memory rings.

This package holds pdcd, its kernel host for process-isolated kernels, the
pdcctl command-line tool, the example kernels, the systemd units and the
default configuration. It creates the pdcd user and group; members of
group pdcd may use the daemon's socket.")
set(CPACK_DEBIAN_DAEMON_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/deploy/debian/pdcd/postinst ${PROJECT_SOURCE_DIR}/deploy/debian/pdcd/prerm
    ${PROJECT_SOURCE_DIR}/deploy/debian/pdcd/postrm ${PROJECT_BINARY_DIR}/debian/conffiles)
set(CPACK_DEBIAN_DAEMON_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME libpdc0)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
# A triggers file for ldconfig; the no-op postinst and postrm keep CPack
# from writing its own, which would call ldconfig directly.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/deploy/debian/libpdc0/triggers ${PROJECT_SOURCE_DIR}/deploy/debian/libpdc0/postinst
    ${PROJECT_SOURCE_DIR}/deploy/debian/libpdc0/postrm)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "pdc ring-kernel actor runtime: client library
libpdc connects a process to the pdc daemon (pdcd): it launches, attaches
to and messages ring kernels over the daemon's Unix socket and
shared-memory rings.

This package holds the shared library with the C ABI (libpdc.so.0).")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libpdc-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libflatbuffers-dev")
set(CPACK_COMPONENT_DEV_DEPENDS runtime)
set(CPACK_DEBIAN_DEV_DESCRIPTION "pdc ring-kernel actor runtime: development files
The headers and libraries to build pdc clients (C, and C++ with the static
client library) and kernel plugins, with a CMake package (find_package(pdc),
pdc_add_plugin()) and pkg-config files (pdc, pdc-plugin).")

set(CPACK_DEBIAN_PYTHON_PACKAGE_NAME python3-pdc)
set(CPACK_DEBIAN_PYTHON_PACKAGE_SECTION python)
set(CPACK_DEBIAN_PYTHON_PACKAGE_ARCHITECTURE all)
set(CPACK_DEBIAN_PYTHON_PACKAGE_SHLIBDEPS OFF)
set(CPACK_DEBIAN_PYTHON_PACKAGE_DEPENDS "python3 (>= 3.10)")
set(CPACK_DEBIAN_PYTHON_PACKAGE_SUGGESTS "python3-numpy")
set(CPACK_COMPONENT_PYTHON_DEPENDS runtime)
set(CPACK_DEBIAN_PYTHON_DESCRIPTION "pdc ring-kernel actor runtime: Python client
The Python package pdc reaches the pdc daemon (pdcd) from Python: a
synchronous API (connect, launch, attach, request, batches, zero-copy views,
numpy arrays) and an asyncio one (pdc.aio, with a Runtime named after the
seed library's RingKernelRuntime), with one exception class per error. It
binds libpdc0's C ABI through ctypes and needs nothing else.")

include(CPack)
