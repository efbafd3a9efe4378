# edgecoap: the device core's tests (device/core/, docs/DEVICE.md), included by tests/CMakeLists.txt.

# The core's cases (tests/test_device_cases.c) under CUnit on the host, and
# its CBOR held equal to the server codec's for the same documents.
add_executable(test_device_core ${CMAKE_SOURCE_DIR}/tests/test_device_core.c
  ${CMAKE_SOURCE_DIR}/tests/test_device_cases.c
  ${CMAKE_SOURCE_DIR}/tests/test_device_xchg.c
  ${CMAKE_SOURCE_DIR}/tests/test_device_outbox.c)
target_link_libraries(test_device_core PRIVATE edgecoap::device_core
                      edgecoap_test_suite)
add_test(NAME device_core COMMAND test_device_core)

# The client's CBOR answers read by the core (client/docs.c) are held to
# the codec's reading there too.
add_executable(test_device_codec ${CMAKE_SOURCE_DIR}/tests/test_device_codec.c)
target_include_directories(test_device_codec PRIVATE ${CMAKE_SOURCE_DIR}/client)
target_link_libraries(test_device_codec PRIVATE edgecoap::device_core
                      edgecoap::client edgecoap::codec edgecoap_test_suite)
add_test(NAME device_codec COMMAND test_device_codec)

# The client library linked alone: its CBOR is the core's, and neither the
# codec's CBOR reader nor libcbor is linked (the program needs no libcbor).
add_executable(test_client_link ${CMAKE_SOURCE_DIR}/tests/test_client_link.c)
target_include_directories(test_client_link PRIVATE ${CMAKE_SOURCE_DIR}/client)
target_link_libraries(test_client_link PRIVATE edgecoap::client
                      edgecoap_test_suite)
add_test(NAME client_link COMMAND test_client_link)
add_test(NAME client_links_no_libcbor COMMAND sh -c
         "readelf -d \"$0\" | grep -q 'NEEDED.*libjansson' && ! readelf -d \"$0\" | grep -q libcbor && ! nm --defined-only \"$0\" | grep -q ec__tree_parse_cbor"
         $<TARGET_FILE:test_client_link>)

# edgecoap-client's own CBOR reading (cli/cbor_json.c: the core's pull
# decoder into jansson) held to the codec's ec_cbor_to_json().
add_executable(test_cli_cbor ${CMAKE_SOURCE_DIR}/tests/test_cli_cbor.c
  ${CMAKE_SOURCE_DIR}/cli/cbor_json.c)
target_include_directories(test_cli_cbor PRIVATE ${CMAKE_SOURCE_DIR}/cli)
target_link_libraries(test_cli_cbor PRIVATE edgecoap::device_core
                      edgecoap::codec PkgConfig::JANSSON edgecoap_test_suite)
add_test(NAME cli_cbor COMMAND test_cli_cbor)

# edgecoap-client likewise: no libcbor, no CBOR reader of the codec.
add_test(NAME cli_links_no_libcbor COMMAND sh -c
         "readelf -d \"$0\" | grep -q 'NEEDED.*libjansson' && ! readelf -d \"$0\" | grep -q libcbor && ! nm --defined-only \"$0\" | grep -q ec__tree_parse_cbor"
         $<TARGET_FILE:edgecoap-client>)

# The core for a Cortex-M4: the size budget of report + observe, and the
# cases above on an emulated Cortex-M3 (scripts/build-mcu). Once per CI run:
# the sanitizer build has nothing to add to a cross build.
if(NOT EDGECOAP_SANITIZE)
  add_test(NAME device_mcu COMMAND ${CMAKE_SOURCE_DIR}/scripts/build-mcu
           ${CMAKE_BINARY_DIR}/mcu)
  set_tests_properties(device_mcu PROPERTIES TIMEOUT 300)
endif()

# The core over its POSIX port against the real server, the example program
# included; it counts the heap allocations of 100 reports while observing.
# The POSIX port losing a device's first sends, for the suites below.
add_library(edgecoap_itlossy STATIC ${CMAKE_SOURCE_DIR}/tests/support/itlossy.c)
target_include_directories(edgecoap_itlossy PUBLIC
  ${CMAKE_SOURCE_DIR}/tests/support)
target_link_libraries(edgecoap_itlossy PUBLIC edgecoap::device_posix)

add_executable(it_device ${CMAKE_SOURCE_DIR}/tests/it_device.c)
target_link_libraries(it_device PRIVATE edgecoap::device_posix edgecoap_itest
                      edgecoap_itlossy PkgConfig::JANSSON)
target_compile_definitions(it_device PRIVATE
  EC_DEVICE_REPORT_BIN="$<TARGET_FILE:edgecoap-device-report>")
add_dependencies(it_device edgecoap-server edgecoap-device-report)
add_test(NAME integration_device COMMAND it_device)
set_tests_properties(integration_device PROPERTIES TIMEOUT 300)

# The core reads and observes a provisioning with a login's token
# (tests/it_device_prov.c), compared with the client library's reading.
add_executable(it_device_prov ${CMAKE_SOURCE_DIR}/tests/it_device_prov.c
  ${CMAKE_SOURCE_DIR}/tests/it_prov_util.c)
target_include_directories(it_device_prov PRIVATE ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(it_device_prov PRIVATE edgecoap::device_posix
                      edgecoap_itest PkgConfig::JANSSON PkgConfig::SQLITE)
add_dependencies(it_device_prov edgecoap-server edgecoap-client)
add_test(NAME integration_device_prov COMMAND it_device_prov)
set_tests_properties(integration_device_prov PROPERTIES TIMEOUT 180)

# The core posts status messages (tests/it_device_feed.c) while another
# device observes the feed: a repeat under its Request-Id, after a server
# restart too, is 2.04 with the first IDs, stored and notified once.
add_executable(it_device_feed ${CMAKE_SOURCE_DIR}/tests/it_device_feed.c)
target_link_libraries(it_device_feed PRIVATE edgecoap::device_posix
                      edgecoap_itest edgecoap_itlossy PkgConfig::JANSSON)
add_dependencies(it_device_feed edgecoap-server)
add_test(NAME integration_device_feed COMMAND it_device_feed)
set_tests_properties(integration_device_feed PROPERTIES TIMEOUT 180)
