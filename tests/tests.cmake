# ctest suite. Tests may read ../shared (the oracle and eval data beside the clone).
set(RELIEF_SHARED ${CMAKE_SOURCE_DIR}/../shared)

add_executable(test_guide tests/test_guide.c)
target_link_libraries(test_guide PRIVATE reliefguide)
add_test(NAME guide COMMAND test_guide)

add_executable(test_kb tests/test_kb.c)
target_include_directories(test_kb PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(test_kb PRIVATE reliefguide)
add_test(NAME kb COMMAND test_kb ${CMAKE_SOURCE_DIR}/kb)

add_test(NAME cli COMMAND sh ${CMAKE_SOURCE_DIR}/tests/test_cli.sh $<TARGET_FILE:relief> ${CMAKE_SOURCE_DIR} ${RELIEF_SHARED})
if(RELIEF_SANITIZE)
  set_tests_properties(cli PROPERTIES ENVIRONMENT "RELIEF_NO_VALGRIND=1")
endif()

add_executable(test_llm tests/test_llm.c)
target_link_libraries(test_llm PRIVATE reliefllm)
add_test(NAME llm_oracle COMMAND test_llm ${RELIEF_SHARED}/oracle/tiny)

add_executable(test_gguf tests/test_gguf.c)
target_include_directories(test_gguf PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(test_gguf PRIVATE reliefllm)
add_test(NAME gguf_hostile COMMAND test_gguf ${RELIEF_SHARED}/oracle/tiny/tiny-q.gguf)
