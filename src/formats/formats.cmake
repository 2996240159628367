# The field's formats (src/formats): CAP 1.2 alerts in and out, built and
# read with libxml2, and the ICS 201 Incident Briefing. A library of their
# own, so that libxml2 stays out of the guidance engine; the command line
# and the service link it.
pkg_check_modules(LIBXML2 REQUIRED IMPORTED_TARGET libxml-2.0)
add_library(reliefformats STATIC
  src/formats/text.c
  src/formats/cap_assess.c
  src/formats/cap_write.c
  src/formats/cap_read.c
  src/formats/ics201.c
  src/formats/formats.c)
target_include_directories(reliefformats PUBLIC ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(reliefformats PUBLIC reliefguide PkgConfig::LIBXML2 pthread)
target_sources(relief PRIVATE src/cli/formats_cli.c)
target_link_libraries(relief PRIVATE reliefformats)
target_link_libraries(reliefserve PUBLIC reliefformats)
include(tests/formats.cmake)
