# libpdc and pdcctl tests (included from tests/daemon.cmake). Labelled
# "client". The daemon is played by a scripted peer (unit/client_fake_daemon.hpp);
# tests against a real pdcd belong in integration/.
add_executable(pdc_client_tests
  unit/client_attach_test.cpp
  unit/client_c_api_test.cpp
  unit/client_cli_test.cpp
  unit/client_format_test.cpp
  unit/client_json_test.cpp
  unit/client_render_test.cpp
  unit/client_session_test.cpp
  unit/client_top_test.cpp)
target_link_libraries(pdc_client_tests PRIVATE pdcctl_lib pdc_client pdc_warnings GTest::gtest_main)
target_include_directories(pdc_client_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
gtest_discover_tests(pdc_client_tests PROPERTIES LABELS client DISCOVERY_TIMEOUT 60 TIMEOUT 120)
