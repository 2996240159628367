# The HTTP service (`relief serve`) and its web page, embedded at build time
# with tools/embed.c as relief_web_files / relief_web_n_files.
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
add_custom_command(
  OUTPUT ${CMAKE_BINARY_DIR}/web_embedded.c
  COMMAND relief-embed ${CMAKE_BINARY_DIR}/web_embedded.c relief_web ${CMAKE_SOURCE_DIR}/src/serve/web
          ${CMAKE_SOURCE_DIR}/src/serve/web/index.html
  DEPENDS relief-embed ${CMAKE_SOURCE_DIR}/src/serve/web/index.html
  COMMENT "Embedding the web page")
file(GLOB RELIEF_SERVE_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/serve/*.c)
add_library(reliefserve STATIC ${RELIEF_SERVE_SOURCES} ${CMAKE_BINARY_DIR}/web_embedded.c)
target_include_directories(reliefserve PUBLIC ${CMAKE_SOURCE_DIR}/include PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(reliefserve PUBLIC PkgConfig::MHD PkgConfig::JANSSON reliefguide reliefhybrid pthread m)
target_link_libraries(relief PRIVATE reliefserve)
