# Install rules, the CMake package (find_package(pdc)) and pkg-config files.
#   cmake --install build --prefix /usr      (docs/install.md)
# Layout (GNUInstallDirs): pdcd, pdc-kernel-host (beside pdcd, where pdcd
# looks for it) and pdcctl in bin; libpdc.so.N in the library folder; headers
# in include/pdc; the example kernels in lib/pdc/kernels; the unit in
# lib/systemd/system; the config in <sysconfdir>/pdcd; docs in the doc folder;
# the Python client (package pdc, pure Python) in PDC_INSTALL_PYTHONDIR.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(PDC_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/pdc)
set(PDC_INSTALL_PLUGINDIR lib/pdc/kernels)
# Debian's folder for pure-Python modules of every python3 version.
set(PDC_INSTALL_PYTHONDIR lib/python3/dist-packages CACHE STRING "where the Python package pdc is installed")
install(DIRECTORY client/python/pdc DESTINATION ${PDC_INSTALL_PYTHONDIR} COMPONENT python
        FILES_MATCHING PATTERN "*.py" PATTERN "__pycache__" EXCLUDE)

install(TARGETS pdcd pdc-kernel-host pdcctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT daemon)
install(TARGETS pdc_client_shared EXPORT pdcTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev)
install(TARGETS pdc_client pdc_core pdc_proto pdc_plugin_abi EXPORT pdcTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)

# Public headers: the C ABI, the plugin ABI and SDK, the C++ client API and
# what it includes (core vocabulary, the envelope and its generated header).
install(FILES client/include/pdc/pdc.h client/include/pdc/client.hpp core/include/pdc/errors.h
              core/include/pdc/kinds.h kernels/include/pdc/plugin.h kernels/include/pdc/sdk.hpp
              kernels/include/pdc/cuda.cuh
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/pdc COMPONENT dev)
install(DIRECTORY core/include/pdc/core DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/pdc COMPONENT dev
        FILES_MATCHING PATTERN "*.hpp")
install(FILES proto/include/pdc/proto/envelope.hpp ${PROJECT_BINARY_DIR}/proto/include/pdc/proto/envelope_generated.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/pdc/proto COMPONENT dev)

# The example kernels, in the plugin folder of the default config.
install(TARGETS pdc_kernel_echo pdc_kernel_double pdc_kernel_counter pdc_kernel_vector_add pdc_kernel_echo_loop
                pdc_kernel_router pdc_kernel_sink pdc_kernel_anomaly
        LIBRARY DESTINATION ${PDC_INSTALL_PLUGINDIR} COMPONENT daemon)
if(PDC_HAVE_CUDA)
  # The cuda tier's examples (the CUDA runtime inside; only the driver is needed to run them).
  install(TARGETS pdc_kernel_cuda LIBRARY DESTINATION ${PDC_INSTALL_PLUGINDIR} COMPONENT daemon)
endif()

# The units and the default config, written at install time with the paths
# of the prefix installed to (cmake/pdc_install_configured.cmake). The
# config goes to /etc/pdcd for prefix /usr (under DESTDIR for packages), to
# <prefix>/etc/pdcd for any other prefix.
function(pdc_install_configured src dest)
  install(CODE "set(PDC_SRC \"${PROJECT_SOURCE_DIR}/${src}\")
    set(PDC_DEST \"${dest}\")
    set(PDC_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
    set(PDC_DOCDIR \"${CMAKE_INSTALL_DOCDIR}\")
    set(PDC_PLUGINDIR \"${PDC_INSTALL_PLUGINDIR}\")
    include(\"${PROJECT_SOURCE_DIR}/cmake/pdc_install_configured.cmake\")" COMPONENT daemon)
endfunction()
pdc_install_configured(deploy/pdcd.service lib/systemd/system)
pdc_install_configured(deploy/pdcd.socket lib/systemd/system)
pdc_install_configured(deploy/pdcd.toml etc)
# The pdcd user and group (sysusers.d) and the socket's folder (tmpfiles.d).
install(FILES deploy/pdcd.sysusers DESTINATION lib/sysusers.d RENAME pdcd.conf COMPONENT daemon)
install(FILES deploy/pdcd.tmpfiles DESTINATION lib/tmpfiles.d RENAME pdcd.conf COMPONENT daemon)
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT daemon FILES_MATCHING PATTERN "*.md"
        PATTERN man EXCLUDE)
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT daemon)
# Man pages, compressed as Debian installs them (gzip -n: no name or time
# stamp, so the same source gives the same file).
set(pdc_man_gz)
foreach(page pdcd.8 pdc-kernel-host.8 pdcctl.1)
  add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/man/${page}.gz
                     COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
                     COMMAND gzip -9nc ${PROJECT_SOURCE_DIR}/docs/man/${page} > ${PROJECT_BINARY_DIR}/man/${page}.gz
                     DEPENDS ${PROJECT_SOURCE_DIR}/docs/man/${page} VERBATIM)
  list(APPEND pdc_man_gz ${PROJECT_BINARY_DIR}/man/${page}.gz)
endforeach()
add_custom_target(pdc_man ALL DEPENDS ${pdc_man_gz})
install(FILES ${PROJECT_BINARY_DIR}/man/pdcd.8.gz ${PROJECT_BINARY_DIR}/man/pdc-kernel-host.8.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man8 COMPONENT daemon)
install(FILES ${PROJECT_BINARY_DIR}/man/pdcctl.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT daemon)

# find_package(pdc)
install(EXPORT pdcTargets NAMESPACE pdc:: DESTINATION ${PDC_INSTALL_CMAKEDIR} COMPONENT dev)
configure_package_config_file(cmake/pdcConfig.cmake.in ${PROJECT_BINARY_DIR}/cmake/pdcConfig.cmake
                              INSTALL_DESTINATION ${PDC_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cmake/pdcConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cmake/pdcConfig.cmake ${PROJECT_BINARY_DIR}/cmake/pdcConfigVersion.cmake
              cmake/pdcPlugin.cmake
        DESTINATION ${PDC_INSTALL_CMAKEDIR} COMPONENT dev)

# pkg-config: pdc (the C ABI, libpdc.so) and pdc-plugin (headers only).
# Relocatable: paths relative to the .pc file, so a staged or moved install works.
file(RELATIVE_PATH PDC_PC_TO_PREFIX "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
string(REGEX REPLACE "/$" "" PDC_PC_TO_PREFIX "${PDC_PC_TO_PREFIX}")
configure_file(cmake/pdc.pc.in ${PROJECT_BINARY_DIR}/pkgconfig/pdc.pc @ONLY)
configure_file(cmake/pdc-plugin.pc.in ${PROJECT_BINARY_DIR}/pkgconfig/pdc-plugin.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/pdc.pc ${PROJECT_BINARY_DIR}/pkgconfig/pdc-plugin.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)
