# Build options, warnings and sanitizers shared by every pdc target.
option(PDC_BUILD_TESTS "Build the test suite" ON)
option(PDC_BUILD_BENCH "Build pdc-bench" ON)
option(PDC_BUILD_DAEMON "Build pdcd, libpdc, pdcctl and the kernels (off: core only)" ON)
option(PDC_WERROR "Treat warnings as errors (scripts/test.sh and CI turn it on)" OFF)
set(PDC_SANITIZE "" CACHE STRING "Sanitizers: '', 'address,undefined' or 'thread'")
option(PDC_FUZZ "Build the libFuzzer targets (clang; everything under ASan and UBSan; scripts/fuzz.sh)" OFF)
if(PDC_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "PDC_FUZZ=ON needs clang (libFuzzer): -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang")
  endif()
  if(PDC_SANITIZE)
    message(FATAL_ERROR "PDC_FUZZ=ON brings its own sanitizers; leave PDC_SANITIZE empty")
  endif()
  set(PDC_SANITIZE "address,undefined")
endif()
set(PDC_CUDA "AUTO" CACHE STRING "CUDA tier: AUTO (when nvcc is found), ON or OFF")

# CUDA: where nvcc is found, the cuda tier's device code is compiled
# (kernels/echo_cuda); the daemon side that launches it comes later (docs/cuda.md).
if(PDC_CUDA STREQUAL "AUTO" OR PDC_CUDA)
  include(CheckLanguage)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(PDC_HAVE_CUDA ON)
    enable_language(CUDA)
  elseif(PDC_CUDA STREQUAL "ON")
    message(FATAL_ERROR "PDC_CUDA=ON but no nvcc was found")
  endif()
endif()
if(NOT PDC_HAVE_CUDA)
  set(PDC_HAVE_CUDA OFF)
endif()
message(STATUS "pdc: CUDA tier support: ${PDC_HAVE_CUDA}; sanitizers: '${PDC_SANITIZE}'")

add_library(pdc_warnings INTERFACE)
target_compile_options(pdc_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual
  -Wimplicit-fallthrough
  $<$<BOOL:${PDC_WERROR}>:-Werror>
  # GCC 12 at -O3 (Release) reports std::string's operator+(const char*,
  # string&&) as an overlapping memcpy (GCC bug 105651, fixed in 13): a false
  # -Wrestrict, not a fault of the code.
  $<$<AND:$<CXX_COMPILER_ID:GNU>,$<VERSION_LESS:$<CXX_COMPILER_VERSION>,13>>:-Wno-restrict>)

if(PDC_SANITIZE)
  # C and C++ only: nvcc (the cuda tier's device code) takes none of these.
  add_compile_options($<$<COMPILE_LANGUAGE:C,CXX>:-fsanitize=${PDC_SANITIZE}>
                      $<$<COMPILE_LANGUAGE:C,CXX>:-fno-omit-frame-pointer>
                      $<$<COMPILE_LANGUAGE:C,CXX>:-fno-sanitize-recover=all>)
  add_link_options(-fsanitize=${PDC_SANITIZE})
  if(PDC_SANITIZE MATCHES "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC warns that TSan does not model atomic_thread_fence, which Asio's
    # headers use; the warning (not TSan) is silenced so -Werror builds.
    add_compile_options($<$<COMPILE_LANGUAGE:C,CXX>:-Wno-tsan>)
  endif()
endif()

# Generated and third-party headers are included as system headers so the
# strict warnings above apply to pdc's own code only.
