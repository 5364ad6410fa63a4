# pdc_add_plugin(<target> SOURCES <src>... [OUTPUT_NAME <name>] [OUTPUT_DIR <dir>])
# A kernel plugin: a MODULE library named exactly <name>.so (no "lib"),
# exporting only its entry point. It builds against the ABI headers alone:
# a plugin never links pdcd or any pdc library. Installed with pdc's CMake
# package (find_package(pdc)) and used by pdc's own kernels too.
function(pdc_add_plugin target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "OUTPUT_NAME;OUTPUT_DIR" "SOURCES")
  if(NOT arg_OUTPUT_NAME)
    set(arg_OUTPUT_NAME ${target})
  endif()
  add_library(${target} MODULE ${arg_SOURCES})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME ${arg_OUTPUT_NAME}
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(arg_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${arg_OUTPUT_DIR})
  endif()
  target_link_libraries(${target} PRIVATE pdc::plugin)
  # GCC marks some libstdc++ template statics (std::to_string's digit table,
  # for one) STB_GNU_UNIQUE, and glibc never unloads an object that has one:
  # unload would then leave the old code mapped and a rebuilt plugin would
  # not take effect. Plugins are RTLD_LOCAL, so plain weak symbols are right.
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANG_AND_ID:CXX,GNU>:-fno-gnu-unique>)
  # An unresolved symbol should fail the build, not the daemon's dlopen.
  # (Not under sanitizers: their runtime lives in the executable.)
  if(NOT PDC_SANITIZE)
    target_link_options(${target} PRIVATE LINKER:--no-undefined)
  endif()
endfunction()
