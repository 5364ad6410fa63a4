# Run by `cmake --install` (and by cpack) through install(CODE): writes one
# deploy/ file with the paths of the prefix being installed to, so that
# `cmake --install build --prefix P` and the Debian packages (prefix /usr,
# under DESTDIR) both get a unit and a config that name their own files,
# whatever prefix the build was configured with.
# In: PDC_SRC (the deploy/ file), PDC_DEST ("etc" for <sysconfdir>/pdcd, or
# a folder relative to the prefix), PDC_BINDIR, PDC_DOCDIR, PDC_PLUGINDIR.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(pdc_etc /etc/pdcd)
else()
  set(pdc_etc ${CMAKE_INSTALL_PREFIX}/etc/pdcd)
endif()
file(READ ${PDC_SRC} pdc_text)
string(REPLACE "/usr/bin/pdcd" "${CMAKE_INSTALL_PREFIX}/${PDC_BINDIR}/pdcd" pdc_text "${pdc_text}")
string(REPLACE "/etc/pdcd" "${pdc_etc}" pdc_text "${pdc_text}")
string(REPLACE "/usr/lib/pdc/kernels" "${CMAKE_INSTALL_PREFIX}/${PDC_PLUGINDIR}" pdc_text "${pdc_text}")
string(REPLACE "/usr/share/doc/pdc" "${CMAKE_INSTALL_PREFIX}/${PDC_DOCDIR}" pdc_text "${pdc_text}")
if(PDC_DEST STREQUAL "etc")
  set(pdc_dir ${pdc_etc})
else()
  set(pdc_dir ${CMAKE_INSTALL_PREFIX}/${PDC_DEST})
endif()
get_filename_component(pdc_name ${PDC_SRC} NAME)
set(pdc_file "$ENV{DESTDIR}${pdc_dir}/${pdc_name}")
message(STATUS "Installing: ${pdc_file}")
file(WRITE "${pdc_file}" "${pdc_text}")
list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${pdc_file}")
