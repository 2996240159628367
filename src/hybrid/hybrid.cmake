# hybrid.cmake - the hybrid responder library: deadline-bounded orchestration
# of protocol plan and model, and the model backends (built-in engine;
# remote OpenAI-compatible server over libcurl). Sources are globbed:
# hybrid.c, builtin.c, remote.c.
file(GLOB RELIEF_HYBRID_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/hybrid/*.c)
add_library(reliefhybrid STATIC ${RELIEF_HYBRID_SOURCES})
target_include_directories(reliefhybrid PUBLIC ${CMAKE_SOURCE_DIR}/include PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(reliefhybrid PUBLIC reliefguide reliefllm PkgConfig::CURL PkgConfig::JANSSON pthread)
