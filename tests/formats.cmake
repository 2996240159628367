# Tests of the field's formats (src/formats): CAP 1.2 out against the OASIS
# schema for every hazard's example report, CAP in (hostile alerts, a
# weather-service-style warning round trip), the ICS 201 briefing as JSON
# and, in headless Chromium, as one printed page.
add_executable(test_formats tests/test_formats.c)
target_include_directories(test_formats PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(test_formats PRIVATE reliefformats PkgConfig::JANSSON)
add_test(NAME formats COMMAND test_formats ${CMAKE_SOURCE_DIR}/tests/data/cap)
add_test(NAME formats_cli COMMAND sh ${CMAKE_SOURCE_DIR}/tests/test_formats_cli.sh $<TARGET_FILE:relief>
         ${CMAKE_SOURCE_DIR}/tests/data/cap)
add_test(NAME ics201_print COMMAND sh ${CMAKE_SOURCE_DIR}/tests/test_ics201_print.sh $<TARGET_FILE:relief>
         ${CMAKE_BINARY_DIR})
set_tests_properties(ics201_print PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
