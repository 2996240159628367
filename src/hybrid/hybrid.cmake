# The hybrid responder and its model backends (built-in engine, remote
# OpenAI-compatible server over libcurl).
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
file(GLOB RELIEF_HYBRID_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/hybrid/*.c)
add_library(reliefhybrid STATIC ${RELIEF_HYBRID_SOURCES})
target_include_directories(reliefhybrid PUBLIC ${CMAKE_SOURCE_DIR}/include PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(reliefhybrid PUBLIC reliefguide reliefllm PkgConfig::CURL PkgConfig::JANSSON pthread)
