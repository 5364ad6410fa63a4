# pdc_add_plugin(<target> [CUDA] SOURCES <src>... [OUTPUT_NAME <name>] [OUTPUT_DIR <dir>]
#                [CUDA_ARCHITECTURES <arch>...])
# A kernel plugin: a MODULE library named exactly <name>.so (no "lib"),
# exporting only its entry point. It builds against the ABI headers alone:
# a plugin never links pdcd or any pdc library. Installed with pdc's CMake
# package (find_package(pdc)) and used by pdc's own kernels too.
#
# CUDA: a plugin of the cuda tier (docs/cuda.md). Its .cu sources are built
# by nvcc (the project must enable_language(CUDA)) as C++20 for
# CUDA_ARCHITECTURES (default 90: Hopper), and the CUDA runtime is linked
# statically, so the plugin needs only the driver where it runs.
function(pdc_add_plugin target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "CUDA" "OUTPUT_NAME;OUTPUT_DIR" "SOURCES;CUDA_ARCHITECTURES")
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
  if(arg_CUDA)
    if(NOT CMAKE_CUDA_COMPILER)
      message(FATAL_ERROR "pdc_add_plugin(${target} CUDA): enable the CUDA language first (enable_language(CUDA))")
    endif()
    if(NOT arg_CUDA_ARCHITECTURES)
      set(arg_CUDA_ARCHITECTURES 90)
    endif()
    find_package(CUDAToolkit REQUIRED)
    set_target_properties(${target} PROPERTIES
      CUDA_ARCHITECTURES "${arg_CUDA_ARCHITECTURES}"
      CUDA_VISIBILITY_PRESET hidden
      CUDA_RUNTIME_LIBRARY None
      CUDA_STANDARD 20
      CUDA_STANDARD_REQUIRED OFF
      POSITION_INDEPENDENT_CODE ON)
    # C++20 by flag (CMake 3.25 knows no C++20 dialect flag for nvcc 13).
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20>)
    target_link_libraries(${target} PRIVATE CUDA::cudart_static)
  endif()
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
