# libFuzzer targets (fuzz/fuzz_*.c), included by CMakeLists.txt when
# RELIEF_FUZZ=ON. Needs clang: the whole build then carries
# -fsanitize=fuzzer-no-link,address,undefined (set in CMakeLists.txt) and
# each target links -fsanitize=fuzzer. `make fuzz` / `make fuzz-smoke`
# build them into build-fuzz/ and run them with fuzz/run.sh.
if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "RELIEF_FUZZ=ON needs clang (cmake -DCMAKE_C_COMPILER=clang)")
endif()

set(RELIEF_FUZZ_TARGETS gguf tokenizer harmony report kb http sse cap)
# The safetensors reader is a later module: fuzzed once it exists.
if(EXISTS ${CMAKE_SOURCE_DIR}/src/llm/safetensors.h AND EXISTS ${CMAKE_SOURCE_DIR}/fuzz/fuzz_safetensors.c)
  list(APPEND RELIEF_FUZZ_TARGETS safetensors)
endif()

set(RELIEF_FUZZ_LIBS_gguf reliefllm)
set(RELIEF_FUZZ_LIBS_safetensors reliefllm)
set(RELIEF_FUZZ_LIBS_tokenizer reliefllm)
set(RELIEF_FUZZ_LIBS_harmony reliefllm)
set(RELIEF_FUZZ_LIBS_report reliefguide)
set(RELIEF_FUZZ_LIBS_kb reliefguide)
set(RELIEF_FUZZ_LIBS_http reliefserve)
set(RELIEF_FUZZ_LIBS_sse reliefhybrid)
set(RELIEF_FUZZ_LIBS_cap reliefformats)

foreach(t ${RELIEF_FUZZ_TARGETS})
  add_executable(fuzz_${t} fuzz/fuzz_${t}.c)
  target_include_directories(fuzz_${t} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/fuzz ${CMAKE_SOURCE_DIR}/tests)
  target_link_libraries(fuzz_${t} PRIVATE ${RELIEF_FUZZ_LIBS_${t}} PkgConfig::JANSSON)
  target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer)
  list(APPEND RELIEF_FUZZ_BINARIES fuzz_${t})
endforeach()
add_custom_target(fuzzers DEPENDS ${RELIEF_FUZZ_BINARIES})
