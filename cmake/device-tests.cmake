# edgecoap: the device core's tests (device/core/, docs/DEVICE.md), included by tests/CMakeLists.txt.

# The core's cases (tests/test_device_cases.c) under CUnit on the host, and
# its CBOR held equal to the server codec's for the same documents.
add_executable(test_device_core ${CMAKE_SOURCE_DIR}/tests/test_device_core.c
  ${CMAKE_SOURCE_DIR}/tests/test_device_cases.c)
target_link_libraries(test_device_core PRIVATE edgecoap::device_core
                      edgecoap_test_suite)
add_test(NAME device_core COMMAND test_device_core)

add_executable(test_device_codec ${CMAKE_SOURCE_DIR}/tests/test_device_codec.c)
target_link_libraries(test_device_codec PRIVATE edgecoap::device_core
                      edgecoap::codec edgecoap_test_suite)
add_test(NAME device_codec COMMAND test_device_codec)
