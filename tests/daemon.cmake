# Tests of the daemon, plugins, client and CLI (included from tests/CMakeLists.txt).
add_subdirectory(${CMAKE_CURRENT_SOURCE_DIR}/plugins ${CMAKE_CURRENT_BINARY_DIR}/plugins)

# Plugin loader, C++ SDK and the example kernels, driven through a fake host.
add_executable(pdc_plugin_tests
  unit/plugin_loader_test.cpp
  unit/sdk_test.cpp)
target_link_libraries(pdc_plugin_tests PRIVATE pdcd_lib pdc_vector_add_schema pdc_warnings GTest::gtest_main)
target_include_directories(pdc_plugin_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_definitions(pdc_plugin_tests PRIVATE
  PDC_TEST_KERNELS_DIR="$<TARGET_FILE_DIR:pdc_kernel_echo>"
  PDC_TEST_PLUGINS_DIR="$<TARGET_FILE_DIR:pdc_test_sdk_faults>"
  PDC_TEST_SOURCE_DIR="${CMAKE_CURRENT_SOURCE_DIR}")
add_dependencies(pdc_plugin_tests pdc_kernels pdc_test_plugins)
gtest_discover_tests(pdc_plugin_tests PROPERTIES LABELS daemon DISCOVERY_TIMEOUT 60 TIMEOUT 120)
include(${CMAKE_CURRENT_SOURCE_DIR}/client.cmake)
