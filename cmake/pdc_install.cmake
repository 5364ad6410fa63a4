# Install rules, the CMake package (find_package(pdc)) and pkg-config files.
#   cmake --install build --prefix /usr      (docs/install.md)
# Layout (GNUInstallDirs): pdcd, pdc-kernel-host (beside pdcd, where pdcd
# looks for it) and pdcctl in bin; libpdc.so.N in the library folder; headers
# in include/pdc; the example kernels in lib/pdc/kernels; the unit in
# lib/systemd/system; the config in <sysconfdir>/pdcd; docs in the doc folder.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(PDC_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/pdc)
set(PDC_INSTALL_PLUGINDIR lib/pdc/kernels)
set(PDC_FULL_PLUGINDIR ${CMAKE_INSTALL_PREFIX}/${PDC_INSTALL_PLUGINDIR})

install(TARGETS pdcd pdc-kernel-host pdcctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT daemon)
install(TARGETS pdc_client_shared EXPORT pdcTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev)
install(TARGETS pdc_client pdc_core pdc_proto pdc_plugin_abi EXPORT pdcTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)

# Public headers: the C ABI, the plugin ABI and SDK, the C++ client API and
# what it includes (core vocabulary, the envelope and its generated header).
install(FILES client/include/pdc/pdc.h client/include/pdc/client.hpp core/include/pdc/errors.h
              core/include/pdc/kinds.h kernels/include/pdc/plugin.h kernels/include/pdc/sdk.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/pdc COMPONENT dev)
install(DIRECTORY core/include/pdc/core DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/pdc COMPONENT dev
        FILES_MATCHING PATTERN "*.hpp")
install(FILES proto/include/pdc/proto/envelope.hpp ${PROJECT_BINARY_DIR}/proto/include/pdc/proto/envelope_generated.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/pdc/proto COMPONENT dev)

# The example kernels, in the plugin folder of the default config.
install(TARGETS pdc_kernel_echo pdc_kernel_double pdc_kernel_counter pdc_kernel_vector_add pdc_kernel_echo_loop
                pdc_kernel_router pdc_kernel_sink
        LIBRARY DESTINATION ${PDC_INSTALL_PLUGINDIR} COMPONENT daemon)

# The unit and the default config, with this prefix's paths.
function(pdc_install_configured src dest)
  file(READ ${PROJECT_SOURCE_DIR}/${src} text)
  string(REPLACE "/usr/bin/pdcd" "${CMAKE_INSTALL_FULL_BINDIR}/pdcd" text "${text}")
  string(REPLACE "/etc/pdcd" "${CMAKE_INSTALL_FULL_SYSCONFDIR}/pdcd" text "${text}")
  string(REPLACE "/usr/lib/pdc/kernels" "${PDC_FULL_PLUGINDIR}" text "${text}")
  string(REPLACE "/usr/share/doc/pdc" "${CMAKE_INSTALL_FULL_DOCDIR}" text "${text}")
  get_filename_component(name ${src} NAME)
  file(WRITE ${PROJECT_BINARY_DIR}/deploy/${name} "${text}")
  install(FILES ${PROJECT_BINARY_DIR}/deploy/${name} DESTINATION ${dest} COMPONENT daemon)
endfunction()
pdc_install_configured(deploy/pdcd.service lib/systemd/system)
pdc_install_configured(deploy/pdcd.socket lib/systemd/system)
# Prefix /usr: /etc/pdcd (GNUInstallDirs' full path; under DESTDIR for packages);
# any other prefix: <prefix>/etc/pdcd.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(PDC_INSTALL_CONFDIR ${CMAKE_INSTALL_FULL_SYSCONFDIR}/pdcd)
else()
  set(PDC_INSTALL_CONFDIR ${CMAKE_INSTALL_SYSCONFDIR}/pdcd)
endif()
pdc_install_configured(deploy/pdcd.toml ${PDC_INSTALL_CONFDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT daemon FILES_MATCHING PATTERN "*.md"
        PATTERN man EXCLUDE)
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT daemon)
install(FILES docs/man/pdcd.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8 COMPONENT daemon)
install(FILES docs/man/pdcctl.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT daemon)

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
